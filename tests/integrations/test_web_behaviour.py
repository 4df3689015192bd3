"""``docs/design.md``, "Web layer", through each framework's real test client: Starlette (async and
sync endpoints, and the middleware wrapping the app from outside) and Flask
run the same chat app (``web_apps``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import BadSignature, TimestampSigner

from agentsession.integrations._web import DEFAULT_MAX_AGE, DEFAULT_SALT
from agentsession.testing import assert_one_chain

from .web_apps import FRAMEWORKS, web_client
from .web_support import (
    HAVE_SQLITE,
    KEY,
    OLD_KEY,
    USER_HEADER,
    Backend,
    Reply,
    WebClient,
    forge_cookie,
    in_threads,
    tamper_signature,
)

needs_sqlite = pytest.mark.skipif(not HAVE_SQLITE, reason="no SQLite store here")

MakeClient = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend.create(tmp_path)


@pytest.fixture
def make(framework: str, backend: Backend) -> MakeClient:
    def make_client(**options: Any) -> AbstractContextManager[Any]:
        return web_client(framework, backend, **options)

    return make_client


@pytest.fixture
def client(make: MakeClient) -> Iterator[Any]:
    with make() as web:
        yield web


def post(client: WebClient, content: str, **headers: str) -> Reply:
    return client.request("POST", "/messages", json={"content": content}, headers=headers)


def get(client: WebClient, **headers: str) -> Reply:
    return client.request("GET", "/messages", headers=headers)


def start(client: WebClient, user: str | None = None) -> str:
    """Create a session with one message (as ``user``); returns its id."""
    headers = {USER_HEADER: user} if user else {}
    reply = client.request("POST", "/messages", json={"content": "first"}, headers=headers)
    assert reply.status == 200
    session_id = reply.header("X-Session-ID")
    assert session_id
    return session_id


# -- round trips -----------------------------------------------------------------------


def test_round_trip_by_cookie(client: Any) -> None:
    first = get(client)
    assert first.status == 200
    assert first.body["messages"] == []
    assert first.set_cookies() == [] and first.header("X-Session-ID") is None

    created = post(client, "hi")
    session_id = created.header("X-Session-ID")
    assert created.body["messages"] == ["hi"]
    assert session_id and client.cookie().startswith(session_id + ".")

    again = post(client, "again")
    assert again.body["messages"] == ["hi", "again"]
    assert again.set_cookies() == [] and again.header("X-Session-ID") is None
    assert get(client).body == {"messages": ["hi", "again"], "exists": True, "context": True}
    assert client.backend.session_count() == 1


def test_round_trip_by_header(client: Any) -> None:
    session_id = start(client)
    other = client.fork()  # no cookie: only the header
    reply = post(other, "from header", **{"X-Session-ID": session_id})
    assert reply.status == 200
    assert reply.body["messages"] == ["first", "from header"]
    assert reply.set_cookies() == []
    assert client.backend.session_count() == 1


def test_header_wins_over_cookie(client: Any) -> None:
    mine = start(client)
    other = start(client.fork())
    reply = get(client, **{"X-Session-ID": other})
    assert reply.body["messages"] == ["first"]
    post(client, "to other", **{"X-Session-ID": other})
    assert [e.data["content"] for e in client.backend.entries(mine)] == ["first"]
    assert len(client.backend.entries(other)) == 2


def test_bad_cookie_is_cleared_even_when_the_header_wins(client: Any) -> None:
    mine = start(client)
    other = start(client.fork())
    # A valid cookie beside the header is left alone...
    kept = get(client, **{"X-Session-ID": other})
    assert (kept.status, kept.body["messages"], kept.set_cookies()) == (200, ["first"], [])
    assert client.cookie() is not None
    # ...a bad one is cleared, and the header's session is still served.
    client.set_cookie(forge_cookie(mine, key=OLD_KEY))
    reply = post(client, "by header", **{"X-Session-ID": other})
    assert (reply.status, reply.body["messages"]) == (200, ["first", "by header"])
    (clearing,) = reply.set_cookies()
    assert clearing.startswith("agentsession=;") and "Max-Age=0" in clearing
    assert client.cookie() is None
    assert len(client.backend.entries(mine)) == 1


# -- cookies that are not ours ---------------------------------------------------------


def assert_ignored_and_cleared(client: Any, cookie: str) -> None:
    client.set_cookie(cookie)
    reply = get(client)
    assert reply.status == 200
    assert reply.body["messages"] == []
    (clearing,) = reply.set_cookies()
    assert clearing.startswith("agentsession=;") and "Max-Age=0" in clearing
    assert client.cookie() is None


def test_tampered_cookie(client: Any) -> None:
    session_id = start(client)
    value = client.cookie()
    assert_ignored_and_cleared(client, tamper_signature(value))
    # The tampered cookie never reached the session.
    assert len(client.backend.entries(session_id)) == 1
    # Another id with the real signature is no better.
    assert_ignored_and_cleared(client, "x" + value)


def test_cookie_with_another_salt(client: Any) -> None:
    session_id = start(client.fork())
    assert_ignored_and_cleared(client, forge_cookie(session_id, salt="flask-session"))


def test_custom_salt(make: MakeClient) -> None:
    salt = "my-app.agent-sessions"
    with make(salt=salt) as client:
        session_id = start(client.fork())
        assert_ignored_and_cleared(client, forge_cookie(session_id))  # the default salt
        client.set_cookie(forge_cookie(session_id, salt=salt))
        assert get(client).body["messages"] == ["first"]
        fresh = client.fork()
        start(fresh)
        assert TimestampSigner(KEY, salt=salt).unsign(fresh.cookie())


def test_cookie_signed_with_rotated_out_key(client: Any) -> None:
    session_id = start(client.fork())
    assert_ignored_and_cleared(client, forge_cookie(session_id, key=OLD_KEY))


def test_fallback_key_accepted_and_new_cookie_uses_newest_key(make: MakeClient) -> None:
    with make(secret_key=[KEY, OLD_KEY]) as client:
        session_id = start(client.fork())
        client.set_cookie(forge_cookie(session_id, key=OLD_KEY))
        assert get(client).body["messages"] == ["first"]

        fresh = client.fork()
        start(fresh)
        value = fresh.cookie()
        assert TimestampSigner(KEY, salt=DEFAULT_SALT).unsign(value)
        with pytest.raises(BadSignature):
            TimestampSigner(OLD_KEY, salt=DEFAULT_SALT).unsign(value)


@pytest.mark.parametrize("offset", [3600.0, -(DEFAULT_MAX_AGE + 60.0)], ids=["future", "expired"])
def test_cookie_out_of_its_time(client: Any, offset: float) -> None:
    session_id = start(client.fork())
    assert_ignored_and_cleared(client, forge_cookie(session_id, offset=offset))


def test_cookie_signed_recently_is_accepted(client: Any) -> None:
    session_id = start(client.fork())
    client.set_cookie(forge_cookie(session_id, offset=-(DEFAULT_MAX_AGE - 60.0)))
    assert get(client).body["messages"] == ["first"]


# -- ids the store does not have ----------------------------------------------------------


def test_unknown_header_id_is_404_and_not_adopted(client: Any) -> None:
    unknown = "unknown-session-id-0123"
    for reply in (
        get(client, **{"X-Session-ID": unknown}),
        post(client, "x", **{"X-Session-ID": unknown}),
    ):
        assert reply.status == 404
        assert reply.body == {"error": "session_not_found", "message": "session not found"}
    assert client.backend.row_count() == 0


def test_unknown_cookie_id_is_cleared_and_not_adopted(client: Any) -> None:
    unknown = "unknown-session-id-0123"
    assert_ignored_and_cleared(client, forge_cookie(unknown))
    client.set_cookie(forge_cookie(unknown))
    created = post(client, "hello")
    assert created.status == 200
    new_id = created.header("X-Session-ID")
    assert new_id and new_id != unknown
    with client.backend.manager() as manager:
        assert [info.id for info in manager.list()] == [new_id]


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a" * 129, "abc$", "ab cd", "é"], ids=repr)
def test_malformed_header_id_is_400(client: Any, bad: str) -> None:
    reply = client.request(
        "GET", "/messages", headers={"X-Session-ID": bad.encode().decode("latin-1")}
    )
    assert reply.status == 400
    assert reply.body == {"error": "invalid_session_id", "message": "malformed session id"}
    assert client.backend.row_count() == 0


@needs_sqlite
def test_malformed_header_id_never_reaches_the_store(framework: str, tmp_path: Path) -> None:
    broken = Backend(tmp_path / "dir-not-db", None)
    broken.path.mkdir()  # type: ignore[union-attr]
    with web_client(framework, broken) as client:
        assert get(client, **{"X-Session-ID": "../etc"}).status == 400
        assert post(client, "x").status == 503  # the store really is down


# -- owners -------------------------------------------------------------------------------


UNKNOWN_ID = "no-such-session-00"
# Headers that may differ between two responses for reasons of their own.
VOLATILE = {"date", "server"}


def _refused(client: Any, case: str) -> tuple[str, dict[str, str]]:
    """A session id the header may name but this caller may not have, and the
    caller's headers; ``case`` says why."""
    backend = client.backend
    if case == "unknown":
        return UNKNOWN_ID, {}
    if case == "expired":  # created an hour ago with a minute to live
        past = datetime.now(UTC) - timedelta(hours=1)
        with backend.manager(ttl=timedelta(minutes=1), clock=lambda: past) as manager:
            return manager.create("chat").id, {}
    with backend.manager() as manager:
        if case == "deleted":
            session = manager.create("chat")
            session.append({"role": "user", "content": "gone"})
            assert manager.delete(session.id)
            return session.id, {}
        if case == "other-agent":
            return manager.create("another-agent").id, {}
        owned = manager.create("chat", user_id="alice").id
        owned_entry = manager.get(owned).append({"role": "user", "content": "alice's"})
        assert owned_entry.id
        return owned, {USER_HEADER: "bob"} if case == "foreign-owner" else {}


def _comparable(reply: Reply) -> tuple[int, Any, list[tuple[str, str]]]:
    headers = sorted((k.lower(), v) for k, v in reply.headers if k.lower() not in VOLATILE)
    return reply.status, reply.body, headers


@pytest.mark.parametrize(
    "case", ["unknown", "expired", "deleted", "foreign-owner", "anonymous-to-owned", "other-agent"]
)
def test_every_refused_header_id_gets_the_identical_404(client: Any, case: str) -> None:
    session_id, headers = _refused(client, case)
    before = client.backend.dump()
    expected = {"error": "session_not_found", "message": "session not found"}
    for method in ("GET", "POST"):
        json = {"content": "hijack"} if method == "POST" else None
        reference = client.request(
            method, "/messages", json=json, headers={"X-Session-ID": UNKNOWN_ID}
        )
        reply = client.request(
            method, "/messages", json=json, headers={"X-Session-ID": session_id, **headers}
        )
        assert (reference.status, reference.body) == (404, expected)
        assert _comparable(reply) == _comparable(reference)
    assert client.backend.dump() == before  # nothing read for the caller, nothing written


def test_foreign_session_by_cookie_is_ignored_and_cleared(client: Any) -> None:
    owner = client.fork()
    alice = start(owner, user="alice")
    cookie = owner.cookie()
    bob = client.fork()
    bob.set_cookie(cookie)
    reply = get(bob, **{USER_HEADER: "bob"})
    assert reply.body["messages"] == [] and "Max-Age=0" in reply.set_cookies()[0]
    assert_ignored_and_cleared(client.fork(), cookie)  # anonymous
    assert get(owner, **{USER_HEADER: "alice"}).body["messages"] == ["first"]
    assert client.backend.owner(alice) == "alice"


def test_logged_in_user_does_not_adopt_anonymous_session(client: Any) -> None:
    anonymous = start(client)
    assert get(client.fork(), **{"X-Session-ID": anonymous, USER_HEADER: "alice"}).status == 404
    reply = get(client, **{USER_HEADER: "alice"})  # by cookie
    assert reply.body["messages"] == [] and "Max-Age=0" in reply.set_cookies()[0]
    assert client.backend.owner(anonymous) is None


def test_new_session_is_owned_by_the_user(client: Any) -> None:
    session_id = start(client, user="alice")
    assert client.backend.owner(session_id) == "alice"


@pytest.mark.parametrize("by", ["cookie", "header"])
def test_claim_anonymous_rotates_the_id(make: MakeClient, by: str) -> None:
    with make(claim_anonymous=True) as client:
        old = start(client)
        headers = {USER_HEADER: "alice"}
        if by == "header":
            headers["X-Session-ID"] = old
        claimed = get(client, **headers)
        assert claimed.status == 200
        assert claimed.body["messages"] == ["first"]
        new = claimed.header("X-Session-ID")
        assert new and new != old
        assert client.cookie().startswith(new + ".")
        assert client.backend.owner(new) == "alice"
        # The old id is gone, for everyone.
        assert get(client.fork(), **{"X-Session-ID": old, USER_HEADER: "alice"}).status == 404
        assert get(client.fork(), **{"X-Session-ID": old}).status == 404
        # And the rotated session carries on.
        assert post(client, "second", **{USER_HEADER: "alice"}).body["messages"] == [
            "first",
            "second",
        ]


# -- nothing created on read; concurrency --------------------------------------------------


def test_a_thousand_anonymous_reads_create_nothing(client: Any) -> None:
    for _ in range(1000):
        reply = get(client)
        assert reply.status == 200 and reply.set_cookies() == []
    assert client.backend.row_count() == 0


def test_twenty_concurrent_clients_one_chain(client: Any) -> None:
    session_id = start(client)
    per_client = 5

    def writer(n: int) -> None:
        me = client.fork()
        for i in range(per_client):
            reply = post(me, f"{n}-{i}", **{"X-Session-ID": session_id})
            assert reply.status == 200, reply.body

    in_threads(20, writer)
    entries = client.backend.entries(session_id)
    assert_one_chain(entries, 1 + 20 * per_client)
    contents = {e.data["content"] for e in entries}
    assert contents == {"first"} | {f"{n}-{i}" for n in range(20) for i in range(per_client)}


# -- response headers -----------------------------------------------------------------------


def test_cookie_flags_default(client: Any) -> None:
    (cookie,) = post(client, "hi").set_cookies()
    value = client.cookie()
    assert (
        cookie == f"agentsession={value}; Max-Age={DEFAULT_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax"
    )


def test_cookie_flags_configured(make: MakeClient) -> None:
    with make(secure=True, max_age=3600) as client:
        (cookie,) = post(client, "hi").set_cookies()
        value = client.cookie()
        assert (
            cookie == f"agentsession={value}; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax"
        )


def test_vary_and_cache_control_when_the_session_is_used(client: Any) -> None:
    for reply in (get(client), post(client, "x"), get(client)):
        assert reply.header("Vary") == "Cookie, X-Session-ID"
        assert reply.header("Cache-Control") == "private"
    untouched = client.request("GET", "/untouched")
    assert untouched.header("Vary") is None and untouched.header("Cache-Control") is None


def test_disabled_integration_passes_everything_through(make: MakeClient) -> None:
    with make(enabled=False) as client:
        reply = client.request("GET", "/untouched", headers={"X-Session-ID": "../x"})
        assert reply.status == 200
        assert reply.header("Vary") is None and reply.set_cookies() == []


def test_delete_clears_the_cookie_and_starts_afresh(client: Any) -> None:
    old = start(client)
    reply = client.request("POST", "/delete")
    assert reply.body == {"deleted": True} and "Max-Age=0" in reply.set_cookies()[0]
    assert client.cookie() is None
    new = start(client)
    assert new != old and client.backend.session_count() == 1


# -- errors ------------------------------------------------------------------------------------


def test_bad_message_data_is_422_and_creates_nothing(client: Any) -> None:
    reply = client.request("POST", "/bad")
    assert reply.status == 422 and reply.body["error"] == "invalid_input"
    assert reply.set_cookies() == []
    assert client.backend.row_count() == 0


def test_conflict_is_409(client: Any) -> None:
    assert client.request("POST", "/conflict").status == 409
    start(client)
    reply = client.request("POST", "/conflict")
    assert reply.status == 409 and reply.body["error"] == "conflict"


def test_integrity_error_is_500_with_a_log_line(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = start(client)
    caplog.set_level(logging.DEBUG)
    reply = client.request("POST", "/integrity")
    assert reply.status == 500 and reply.body["error"] == "integrity_error"
    assert any("IntegrityError" in r.getMessage() for r in caplog.records)
    assert session_id not in caplog.text


@needs_sqlite
def test_store_down_is_503_json(
    framework: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    down = Backend(tmp_path / "sessions.db", None)
    down.path.mkdir()  # type: ignore[union-attr]  # a directory where the file should be
    expected = {"error": "store_unavailable", "message": "session store unavailable"}
    with web_client(framework, down) as client:
        assert get(client).status == 200  # no session named: the store is not needed
        reply = post(client, "lost?")
        assert (reply.status, reply.body, reply.set_cookies()) == (503, expected, [])
        client.set_cookie(forge_cookie("some-session-id-0000"))
        assert get(client).status == 503
        assert get(client, **{"X-Session-ID": "some-session-id-0000"}).status == 503
    assert "some-session-id-0000" not in caplog.text


def test_session_ids_never_logged(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ids = [start(client), start(client.fork(), user="alice")]
    get(client, **{"X-Session-ID": ids[1], USER_HEADER: "bob"})
    client.request("POST", "/integrity")
    client.request("POST", "/conflict")
    for session_id in ids:
        assert session_id not in caplog.text
