"""``docs/design.md``, "Web layer", through Django's test clients: sync and async
views, WSGI and ASGI.

Every test runs four times (see ``web`` in the conftest): the sync and the
async variant of each view, called through the WSGI-style ``client`` and
through the ASGI ``async_client``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from itsdangerous import TimestampSigner

from agentsession import NoSessionInContext, current_session
from agentsession.integrations.django.models import StoredSession

from ..web_support import tamper_signature
from .web import COOKIE, HEADER, Web, body, stored_ids

NEWEST, OLDER = "agentsession-tests-newest-key", "agentsession-tests-older-key"
SALT = "agentsession.cookie"


def signed(session_id: str, key: str = NEWEST, salt: str = SALT, at: float | None = None) -> str:
    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() if at is None else at)

    return Signer(key, salt=salt).sign(session_id).decode()


def new_session(web: Web, *contents: str) -> str:
    """Create a session through the app (first write) and return its id."""
    response = web.post(contents[0] if contents else "first")
    assert response.status_code == 200
    for content in contents[1:]:
        assert web.post(content).status_code == 200
    return str(response[HEADER])


def cleared(response: Any) -> bool:
    morsel = response.cookies.get(COOKIE)
    return morsel is not None and morsel.value == "" and morsel["max-age"] == 0


# -- finding the session ------------------------------------------------------------


def test_first_write_creates_and_announces(web: Web) -> None:
    response = web.post("hi")
    assert response.status_code == 200
    sid = response[HEADER]
    assert body(response)["messages"] == ["hi"]
    assert stored_ids() == {sid}
    assert response.cookies[COOKIE].value.startswith(sid + ".")


def test_round_trip_via_cookie(web: Web) -> None:
    sid = new_session(web, "one", "two")
    response = web.get()
    assert body(response)["messages"] == ["one", "two"]
    assert HEADER not in response  # not new: nothing to announce
    assert COOKIE not in response.cookies
    assert stored_ids() == {sid}


def test_round_trip_via_header(web: Web) -> None:
    sid = new_session(web, "one")
    web.forget_cookies()
    response = web.post("two", session_id=sid)
    assert body(response)["messages"] == ["one", "two"]
    assert stored_ids() == {sid}


def test_header_wins_over_cookie(web: Web) -> None:
    first = new_session(web, "first")
    web.forget_cookies()
    second = new_session(web, "second")
    assert web.cookie() is not None
    assert body(web.get(session_id=first))["messages"] == ["first"]
    assert body(web.get())["messages"] == ["second"]
    assert stored_ids() == {first, second}


def test_sync_views_get_sync_handles_and_async_views_awaitable_ones(web: Web) -> None:
    payload = body(web.get())
    expected = "LazySession" if web.view == "sync" else "AsyncLazySession"
    assert payload["handle"] == expected
    assert payload["current_is_handle"] is True


def test_contextvar_set_in_the_view_and_cleared_after(web: Web) -> None:
    assert body(web.get("plain"))["current_is_handle"] is True
    with pytest.raises(NoSessionInContext):
        current_session()


# -- cookies that are not ours ------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sid: tamper_signature(signed(sid)), id="tampered"),
        pytest.param(lambda sid: signed(sid, salt="django.core.signing"), id="other-salt"),
        pytest.param(lambda sid: signed(sid, key="a-retired-key"), id="rotated-out-key"),
        pytest.param(lambda sid: signed(sid, at=time.time() + 3600), id="future-dated"),
        pytest.param(lambda sid: signed(sid, at=time.time() - 15 * 24 * 3600), id="expired"),
        pytest.param(lambda sid: sid, id="unsigned"),
        pytest.param(lambda sid: signed("../" + sid), id="signed-malformed-id"),
    ],
)
def test_bad_cookies_are_ignored_and_cleared(web: Web, forge: Any) -> None:
    sid = new_session(web, "secret history")
    web.set_cookie(forge(sid))
    response = web.get()
    assert response.status_code == 200
    assert body(response)["messages"] == []
    assert cleared(response)
    assert stored_ids() == {sid}


def test_cookie_signed_with_a_fallback_key_still_works(web: Web) -> None:
    sid = new_session(web, "kept")
    web.set_cookie(signed(sid, key=OLDER))
    assert body(web.get())["messages"] == ["kept"]


def test_key_rotation(web: Web, settings: Any) -> None:
    new_session(web, "signed with the old key")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-key-2026", [NEWEST]
    assert body(web.get())["messages"] == ["signed with the old key"]
    settings.SECRET_KEY_FALLBACKS = []  # the old key is rotated out
    response = web.get()
    assert body(response)["messages"] == []
    assert cleared(response)


def test_fresh_cookie_verifies_with_the_newest_key_alone(web: Web) -> None:
    sid = new_session(web)
    cookie = web.cookie()
    assert cookie is not None
    assert TimestampSigner(NEWEST, salt=SALT).unsign(cookie, max_age=60).decode() == sid


# -- ids that are not (or no longer) sessions ----------------------------------------------


def test_unknown_id_in_header_is_404_and_not_adopted(web: Web) -> None:
    response = web.post("adopt me?", session_id="made-up-id")
    assert response.status_code == 404
    assert body(response) == {"error": "session_not_found", "message": "session not found"}
    assert response["Content-Type"] == "application/json"
    assert stored_ids() == set()


def test_unknown_id_in_cookie_is_ignored_and_a_new_id_issued(web: Web) -> None:
    web.set_cookie(signed("made-up-id"))
    response = web.post("fresh")
    assert response.status_code == 200
    assert response[HEADER] != "made-up-id"
    assert stored_ids() == {response[HEADER]}


def test_deleted_session(web: Web) -> None:
    sid = new_session(web, "gone soon")
    response = web.request("post", "delete")
    assert body(response) == {"deleted": True}
    assert cleared(response)
    assert stored_ids() == set()
    assert web.get(session_id=sid).status_code == 404


@pytest.mark.parametrize(
    "bad",
    ["", "  ", "../etc/passwd", "a/b", "x" * 129, "sess ion", "abc$", "caf\u00e9", "a.b"],
    ids=["empty", "blank", "path", "slash", "overlong", "space", "dollar", "unicode", "dot"],
)
def test_malformed_header_ids_are_400_before_the_store(
    web: Web, bad: str, counting_store: Any
) -> None:
    response = web.post("never stored", headers={HEADER: bad})
    assert response.status_code == 400
    assert body(response)["error"] == "invalid_session_id"
    assert counting_store.calls == []


# -- owners -----------------------------------------------------------------------------------


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob")


def test_new_session_belongs_to_the_logged_in_user(web: Web, alice: User) -> None:
    web.login(alice)
    sid = new_session(web)
    assert StoredSession.objects.get(session_id=sid).user_id == str(alice.pk)


@pytest.mark.parametrize("hook", ["header_user", "aheader_user"])
def test_get_user_id_hook(web: Web, settings: Any, hook: str) -> None:
    path = f"tests.integrations.django.views.{hook}"
    settings.AGENTSESSION = {**settings.AGENTSESSION, "GET_USER_ID": path}
    sid = new_session(web)
    web.forget_cookies()
    owned = web.post("mine", headers={"X-User": "carol"})
    assert StoredSession.objects.get(session_id=owned[HEADER]).user_id == "carol"
    assert StoredSession.objects.get(session_id=sid).user_id is None
    assert web.get(session_id=owned[HEADER], headers={"X-User": "dave"}).status_code == 404
    assert web.get(session_id=owned[HEADER]).status_code == 404
    mine = web.get(session_id=owned[HEADER], headers={"X-User": "carol"})
    assert body(mine)["messages"] == ["mine"]


def test_another_user_gets_404_by_header_same_as_unknown(web: Web, alice: User, bob: User) -> None:
    web.login(alice)
    sid = new_session(web, "alice's secret")
    web.forget_cookies()
    web.login(bob)
    foreign = web.get(session_id=sid)
    unknown = web.get(session_id="no-such-session")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert sorted(foreign.headers.items()) == sorted(unknown.headers.items())
    assert web.post("bob writes", session_id=sid).status_code == 404


def test_another_user_ignores_a_foreign_cookie(web: Web, alice: User, bob: User) -> None:
    web.login(alice)
    sid = new_session(web, "alice's secret")
    stolen = web.cookie()
    assert stolen is not None
    web.logout()
    web.login(bob)
    web.set_cookie(stolen)
    response = web.post("bob's own")
    assert body(response)["messages"] == ["bob's own"]
    assert response[HEADER] != sid
    owner = StoredSession.objects.get(session_id=sid)
    assert (owner.user_id, owner.message_count) == (str(alice.pk), 1)


def test_anonymous_request_to_an_owned_session(web: Web, alice: User) -> None:
    web.login(alice)
    sid = new_session(web, "private")
    cookie = web.cookie()
    web.logout()
    assert web.get(session_id=sid).status_code == 404
    assert cookie is not None
    web.set_cookie(cookie)
    response = web.get()
    assert body(response)["messages"] == []
    assert cleared(response)


def test_logged_in_user_does_not_adopt_an_anonymous_session(web: Web, alice: User) -> None:
    sid = new_session(web, "anonymous")
    web.login(alice)
    assert web.get(session_id=sid).status_code == 404
    assert StoredSession.objects.get(session_id=sid).user_id is None


def test_claim_anonymous_rotates_the_id(web: Web, alice: User, settings: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "CLAIM_ANONYMOUS": True}
    old = new_session(web, "before login")
    web.login(alice)
    response = web.get()
    assert body(response)["messages"] == ["before login"]
    new = response[HEADER]
    assert new != old
    assert response.cookies[COOKIE].value.startswith(new + ".")
    assert stored_ids() == {new}
    assert StoredSession.objects.get(session_id=new).user_id == str(alice.pk)
    assert web.get(session_id=old).status_code == 404
    assert body(web.get(session_id=new))["messages"] == ["before login"]


# -- responses --------------------------------------------------------------------------------


def test_cookie_flags_by_default(web: Web) -> None:
    morsel = web.post().cookies[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == 14 * 24 * 3600
    assert not morsel["secure"]
    assert not morsel["domain"]


def test_cookie_flags_as_configured(web: Web, settings: Any) -> None:
    settings.AGENTSESSION = {
        **settings.AGENTSESSION,
        "COOKIE_NAME": "chat",
        "COOKIE_SECURE": True,
        "COOKIE_SAMESITE": "Strict",
        "COOKIE_AGE": 3600,
        "COOKIE_PATH": "/sync/",
        "COOKIE_DOMAIN": "example.com",
    }
    response = web.post()
    assert COOKIE not in response.cookies
    morsel = response.cookies["chat"]
    assert morsel["secure"] is True
    assert (morsel["samesite"], morsel["max-age"]) == ("Strict", 3600)
    assert (morsel["path"], morsel["domain"]) == ("/sync/", "example.com")


def test_vary_and_cache_control_when_the_session_was_used(web: Web) -> None:
    new_session(web)
    for response in (web.get(), web.post("again")):
        vary = {v.strip() for v in response["Vary"].split(",")}
        assert {"Cookie", HEADER} <= vary
        assert "private" in response["Cache-Control"]


def test_no_session_headers_when_the_session_was_not_used(web: Web) -> None:
    response = web.get("plain")
    assert HEADER not in response
    assert COOKIE not in response.cookies
    assert HEADER not in response.get("Vary", "")


def test_errors_escaping_the_view_are_json(web: Web) -> None:
    response = web.get("conflict")
    assert response.status_code == 409
    assert body(response)["error"] == "conflict"


def test_store_down_is_503_json(web: Web, settings: Any, tmp_path: Any) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.AGENTSESSION = {**settings.AGENTSESSION, "STORE": f"sqlite:///{blocker}/s.db"}
    for response in (web.post("lost"), web.get(session_id="some-session-id")):
        assert response.status_code == 503
        assert body(response) == {
            "error": "store_unavailable",
            "message": "session store unavailable",
        }


def test_disabled_integration_passes_requests_through(web: Web, settings: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "ENABLED": False}
    response = web.get("plain", session_id="../bad")
    assert response.status_code == 200
    assert body(response) == {"handle": None, "current_is_handle": False}
    assert HEADER not in response and COOKIE not in response.cookies


def test_streaming_response_sees_the_session(web: Web) -> None:
    if (web.server, web.view) in (("asgi", "sync"), ("wsgi", "async")):
        pytest.skip("Django warns when a server consumes an iterator of the other kind")
    new_session(web, "one", "two")
    response = web.get("stream")
    assert web.read_stream(response) == b'"one"\n"two"\n'
    with pytest.raises(NoSessionInContext):
        current_session()
    assert "private" in response["Cache-Control"]
