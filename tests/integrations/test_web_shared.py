"""The framework-agnostic layer on its own: settings, cookies, the resolution
table, the lazy handles and the error mapping."""

from __future__ import annotations

import asyncio
import inspect
import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from itsdangerous import TimestampSigner

from agentsession import (
    AsyncSession,
    AsyncSessionManager,
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    Session,
    SessionManager,
    SessionNotFound,
    Store,
    StoreClosed,
    StoreUnavailable,
)
from agentsession.integrations._web import (
    AsyncLazySession,
    CookieInstruction,
    CookieSigner,
    ErrorResponse,
    LazySession,
    RequestState,
    Source,
    WebSettings,
    begin,
    error_response,
    merge_cache_control,
    merge_vary,
    read_cookie,
)
from agentsession.integrations._web.asgi import with_session_headers
from agentsession.stores import AsyncMemoryStore, MemoryStore

NEW = "newest-signing-key-0123"
OLD = "older-signing-key-4567"
SETTINGS = WebSettings(agent="chat", secret_keys=(NEW, OLD))
SIGNER = CookieSigner(SETTINGS)


def state(
    header: str | None = None, cookie: str | None = None, user: str | None = None
) -> RequestState:
    result = begin(SETTINGS, SIGNER, header=header, cookie=cookie, user_id=user)
    assert isinstance(result, RequestState)
    return result


# -- settings and cookies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"agent": "no spaces"},
        {"header": "X Session"},
        {"cookie_name": "a;b"},
        {"max_age": 0},
        {"samesite": "none"},
        {"samesite": "sometimes"},
        {"salt": ""},
    ],
)
def test_settings_refuse_nonsense(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WebSettings(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ("x", ValueError),
        ("a" * 40, ValueError),  # long but one character
        ({"a-long-enough-key-12345": 1}, TypeError),  # a dict's keys are not a key list
        (12345678901234567890, TypeError),
        ([NEW, 7], TypeError),
    ],
)
def test_secret_keys_are_checked_when_configured(keys: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="secret key"):
        WebSettings(secret_keys=keys)  # type: ignore[arg-type]


def test_secret_keys_newest_first() -> None:
    assert WebSettings(secret_keys=NEW).secret_keys == (NEW,)  # type: ignore[arg-type]
    assert WebSettings(secret_keys=[NEW, "", OLD]).secret_keys == (NEW, OLD)  # type: ignore[arg-type]
    assert not WebSettings().cookies_enabled
    signed = SIGNER.sign("abc")
    assert CookieSigner(WebSettings(secret_keys=(NEW,))).unsign(signed) == "abc"
    assert CookieSigner(WebSettings(secret_keys=(OLD,))).unsign(signed) is None
    assert CookieSigner(WebSettings(secret_keys=(OLD,))).unsign(SIGNER.sign("a")) is None
    assert SIGNER.unsign("garbage") is None and SIGNER.unsign("") is None
    assert CookieSigner(WebSettings()).unsign(signed) is None


def test_read_cookie() -> None:
    assert read_cookie(None, "agentsession") is None
    assert read_cookie("a=1; agentsession=v.1.2; b=2", "agentsession") == "v.1.2"
    assert read_cookie('bad"cookie=[; agentsession="v"', "agentsession") == "v"
    assert read_cookie("xagentsession=v", "agentsession") is None


def test_cookie_instruction() -> None:
    settings = WebSettings(secret_keys=(NEW,), secure=True, domain="example.org", max_age=None)
    setting = CookieInstruction.for_settings(settings, "value")
    assert setting.header_value() == (
        "agentsession=value; Path=/; Domain=example.org; Secure; HttpOnly; SameSite=Lax"
    )
    clearing = CookieInstruction.for_settings(settings, None)
    assert clearing.clears
    assert clearing.header_value().startswith(
        "agentsession=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"
    )


def test_merge_headers() -> None:
    assert merge_vary("", "X-Session-ID") == "Cookie, X-Session-ID"
    assert (
        merge_vary("Accept-Encoding, cookie", "X-Session-ID")
        == "Accept-Encoding, cookie, X-Session-ID"
    )
    assert merge_vary("*", "X-Session-ID") == "*"
    assert merge_cache_control("") == "private"
    assert merge_cache_control("public, max-age=60") == "private, max-age=60"
    assert merge_cache_control("no-store") == "no-store"
    assert merge_cache_control("private, max-age=5") == "private, max-age=5"


def test_cookies_are_itsdangerous_timestamp_signatures() -> None:
    # The signer derives each key once and signs through OpenSSL's one-shot
    # HMAC: the values stay a stock TimestampSigner's, both ways.
    stock = TimestampSigner(NEW, salt=SETTINGS.salt)
    ours = SIGNER.sign("abc")
    assert stock.unsign(ours, max_age=60) == b"abc"
    assert SIGNER.unsign(stock.sign("abc").decode()) == "abc"
    older = TimestampSigner(OLD, salt=SETTINGS.salt).sign("abc").decode()
    assert SIGNER.unsign(older) == "abc"  # an older key of the list still verifies
    assert SIGNER.unsign(TimestampSigner(NEW, salt="other").sign("abc").decode()) is None
    assert SIGNER.unsign(TimestampSigner(NEW + "x").sign("abc").decode()) is None
    value, stamp, signature = ours.split(".")
    flipped = signature[:5] + ("B" if signature[5] == "A" else "A") + signature[6:]
    assert SIGNER.unsign(f"{value}.{stamp}.{flipped}") is None
    assert SIGNER.unsign(f"abd.{stamp}.{signature}") is None


@pytest.mark.parametrize("websocket", [False, True], ids=["http", "websocket"])
@pytest.mark.parametrize(
    "raw",
    [
        [],
        [(b"content-type", b"text/plain")],
        [
            (b"Vary", b"Accept-Encoding"),
            (b"Content-Type", b"text/plain"),
            (b"vary", b"Cookie"),
            (b"Cache-Control", b"public, max-age=60"),
        ],
        [(b"cache-control", b"no-store"), (b"x-other", b"caf\xe9")],
    ],
    ids=["none", "plain", "vary-and-cache", "no-store"],
)
@pytest.mark.parametrize("case", ["untouched", "touched", "issued", "cleared"])
def test_raw_session_headers_are_the_response_headers(
    case: str, raw: list[tuple[bytes, bytes]], websocket: bool
) -> None:
    request = state(cookie="zzz.bad.sig") if case == "cleared" else state(header="abc")
    if case == "touched":
        request.touched = True
    elif case == "issued":
        request.issue(SessionManager(MemoryStore()).create("chat").info)
    decoded = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    expected = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in request.response_headers(decoded, caching=not websocket)
    ]
    assert with_session_headers(request, raw, websocket) == expected


def test_raw_session_headers_of_a_read() -> None:
    request = state(header="abc")
    request.touched = True
    assert with_session_headers(request, [(b"Content-Length", b"2")], False) == [
        (b"content-length", b"2"),
        (b"vary", b"Cookie, X-Session-ID"),
        (b"cache-control", b"private"),
    ]


# -- the table --------------------------------------------------------------------------


def test_begin() -> None:
    assert state().source is Source.NONE
    by_header = state(header=" abc ", cookie=SIGNER.sign("zzz"))
    assert (by_header.source, by_header.candidate, by_header.clear_cookie) == (
        Source.HEADER,
        "abc",
        False,
    )
    by_cookie = state(cookie=SIGNER.sign("zzz"))
    assert (by_cookie.source, by_cookie.candidate) == (Source.COOKIE, "zzz")
    bad_cookie = state(cookie="zzz.bad.sig")
    assert (bad_cookie.source, bad_cookie.candidate, bad_cookie.clear_cookie) == (
        Source.NONE,
        None,
        True,
    )
    assert bad_cookie.response_headers()[-1][1].startswith("agentsession=;")
    header_and_bad_cookie = state(header="abc", cookie="zzz.bad.sig")
    assert (header_and_bad_cookie.source, header_and_bad_cookie.candidate) == (Source.HEADER, "abc")
    assert header_and_bad_cookie.clear_cookie
    without_keys = begin(WebSettings(), SIGNER, header=None, cookie="x", user_id=None)
    assert isinstance(without_keys, RequestState) and not without_keys.clear_cookie
    bad = begin(SETTINGS, SIGNER, header="../x", cookie=None, user_id=None)
    assert bad == ErrorResponse(400, "invalid_session_id", "malformed session id")
    assert "x" not in repr(by_header) and "abc" not in repr(by_header)


def test_untouched_state_adds_no_headers() -> None:
    assert state().response_headers([("Content-Type", "text/plain")]) == [
        ("Content-Type", "text/plain")
    ]


# -- lazy handles -------------------------------------------------------------------------


@pytest.fixture
def manager() -> SessionManager:
    return SessionManager(MemoryStore())


def test_reads_create_nothing(manager: SessionManager) -> None:
    s = LazySession(manager, state(user="alice"))
    assert (s.id, s.info, s.exists, s.user_id, s.message_count, s.metadata) == (
        None,
        None,
        False,
        "alice",
        0,
        {},
    )
    assert s.messages() == [] and s.entries() == [] and s.state() == {}
    assert s.checkpoints() == [] and s.branches() == [] and s.refresh() is None
    assert s.pop() is None and s.get() is None and s.delete() is False
    s.clear()
    with pytest.raises(CheckpointNotFound):
        s.restore("some-checkpoint")
    with pytest.raises(InvalidInput):
        s.switch("some-entry")
    assert manager.list() == []


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.append({"role": "user"}, expected_head="stale"), ConflictError),
        (lambda s: s.append({"bad": float("nan")}), InvalidInput),
        (lambda s: s.append("not a mapping"), InvalidInput),
        (lambda s: s.update_metadata({"x": float("inf")}), InvalidInput),
        (lambda s: s.update_state(["not", "a", "mapping"]), InvalidInput),
    ],
)
def test_failing_first_write_creates_nothing(
    manager: SessionManager, call: object, error: type[Exception]
) -> None:
    handle = LazySession(manager, state())
    with pytest.raises(error):
        call(handle)  # type: ignore[operator]
    assert manager.list() == [] and not handle._state.issued


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.append({"role": "user", "content": "hi"}),
        lambda s: s.append({"role": "user"}, expected_head=None),
        lambda s: s.update_metadata({"topic": "x"}),
        lambda s: s.update_state({"step": 1}),
        lambda s: s.checkpoint("start"),
    ],
)
def test_first_write_creates_for_the_user(manager: SessionManager, write: object) -> None:
    request = state(user="alice")
    handle = LazySession(manager, request)
    write(handle)  # type: ignore[operator]
    (info,) = manager.list()
    assert (info.id, info.user_id, info.agent) == (handle.id, "alice", "chat")
    headers = dict(request.response_headers())
    assert headers["X-Session-ID"] == info.id
    assert SIGNER.unsign(headers["Set-Cookie"].split("=", 1)[1].split(";")[0]) == info.id


def test_header_rules(manager: SessionManager) -> None:
    mine = manager.create("chat", user_id="alice")
    other_agent = manager.create("helper", user_id="alice")
    LazySession(manager, state(header=mine.id, user="alice")).append({"n": 1})
    for header, user in [
        (mine.id, "bob"),
        (mine.id, None),
        (other_agent.id, "alice"),
        ("unknown", "alice"),
    ]:
        handle = LazySession(manager, state(header=header, user=user))
        with pytest.raises(SessionNotFound):
            handle.messages()
        with pytest.raises(SessionNotFound):
            handle.append({"n": 2})
    assert len(mine.entries()) == 1 and len(manager.list()) == 2


def test_delete_clears_only_the_cookie_that_named_the_session(manager: SessionManager) -> None:
    in_cookie = manager.create("chat")
    in_header = manager.create("chat")
    cookie = SIGNER.sign(in_cookie.id)

    by_header = state(header=in_header.id, cookie=cookie)
    assert LazySession(manager, by_header).delete() is True
    assert by_header.cookie() is None  # the cookie's own session stays reachable

    by_cookie = state(cookie=cookie)
    assert LazySession(manager, by_cookie).delete() is True
    instruction = by_cookie.cookie()
    assert instruction is not None and instruction.value is None  # cleared

    fresh = state()
    handle = LazySession(manager, fresh)
    handle.append({"n": 1})
    assert handle.delete() is True
    instruction = fresh.cookie()
    assert instruction is not None and instruction.value is None  # never set, cleared
    assert manager.list() == []


def test_claim_rotates_once(manager: SessionManager) -> None:
    claiming = WebSettings(agent="chat", secret_keys=(NEW,), claim_anonymous=True)
    anonymous = manager.create("chat")
    anonymous.append({"n": 1})
    request = begin(
        claiming, CookieSigner(claiming), header=anonymous.id, cookie=None, user_id="bob"
    )
    assert isinstance(request, RequestState)
    handle = LazySession(manager, request)
    assert len(handle.messages()) == 1
    assert handle.id != anonymous.id and handle.user_id == "bob" and request.issued
    with pytest.raises(SessionNotFound):
        manager.get(anonymous.id)


def test_async_handle_and_repr() -> None:
    async def run() -> None:
        manager = AsyncSessionManager(AsyncMemoryStore())
        handle = AsyncLazySession(manager, state(user="alice"))
        assert await handle.messages() == []
        await handle.extend([{"n": 1}, {"n": 2}])
        assert [e.data["n"] for e in await handle.messages()] == [1, 2]
        assert handle.id is not None and handle.id not in repr(handle)
        assert await handle.delete() is True
        assert handle.id is None and await handle.messages() == []
        assert await manager.list() == []

    asyncio.run(run())


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SessionNotFound(), 404, "session_not_found"),
        (CheckpointNotFound("x"), 404, "checkpoint_not_found"),
        (ConflictError("lost"), 409, "conflict"),
        (LimitExceeded("full"), 422, "limit_exceeded"),
        (InvalidInput("bad data"), 422, "invalid_input"),
        (StoreUnavailable("down"), 503, "store_unavailable"),
        (StoreClosed("closed"), 503, "store_unavailable"),
        (IntegrityError("tampered"), 500, "integrity_error"),
    ],
)
def test_error_mapping(
    error: Exception, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = error_response(error)
    assert (response.status, response.code) == (status, code)
    assert response.websocket_close_code == 4000 + status
    assert dict(response.headers)["Content-Type"] == "application/json"
    assert (len(caplog.records) > 0) == (status >= 500)


def test_unmapped_error_is_refused() -> None:
    with pytest.raises(TypeError):
        error_response(RuntimeError("x"))


@pytest.mark.parametrize(
    ("missing", "module", "extra"),
    [
        ("flask", "agentsession.integrations.flask", "agentsession[flask]"),
        ("starlette", "agentsession.integrations.starlette", "agentsession[starlette]"),
        ("itsdangerous", "agentsession.integrations.asgi", "agentsession[starlette]"),
    ],
)
def test_missing_framework_names_the_extra(missing: str, module: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"try:\n    import {module}\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert extra in out.stdout, out.stdout + out.stderr
    # The core never needs any of them.
    core = f"import sys; sys.modules[{missing!r}] = None; import agentsession"
    subprocess.run([sys.executable, "-c", core], check=True)


class _Recording:
    """A real memory store that notes the name of every call made to it."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.store, name)


def test_first_read_checks_the_owner_before_any_history() -> None:
    # The row first, judged; history only for the owner. Refusing someone
    # else's session must cost what refusing an unknown id does, whatever
    # that session holds.
    recording = _Recording()
    manager = SessionManager(cast(Store, recording))
    alice = manager.create("chat", user_id="alice")
    alice.append({"secret": "of alice"})

    recording.calls.clear()
    own = LazySession(manager, state(header=alice.id, user="alice"))
    assert [e.data for e in own.messages()] == [{"secret": "of alice"}]
    assert own.id == alice.id and own.user_id == "alice"
    own.messages()
    assert recording.calls == ["get_session", "read_path", "read_path"]

    recording.calls.clear()
    with pytest.raises(SessionNotFound):
        LazySession(manager, state(header=alice.id, user="bob")).messages()
    by_cookie = state(cookie=SIGNER.sign(alice.id))
    assert LazySession(manager, by_cookie).entries() == [] and by_cookie.clear_cookie
    assert recording.calls == ["get_session", "get_session"]

    anonymous = manager.create("chat")
    anonymous.append({"n": 1})
    claiming = WebSettings(agent="chat", secret_keys=(NEW,), claim_anonymous=True)
    request = begin(claiming, SIGNER, header=anonymous.id, cookie=None, user_id="carol")
    assert isinstance(request, RequestState)
    claimed = LazySession(manager, request)
    assert [e.data for e in claimed.messages()] == [{"n": 1}]
    assert claimed.id != anonymous.id and request.issued


def test_reads_that_do_not_return_the_row_check_it_first() -> None:
    recording = _Recording()
    manager = SessionManager(cast(Store, recording))
    alice = manager.create("chat", user_id="alice")
    alice.checkpoint("start")
    recording.calls.clear()
    with pytest.raises(SessionNotFound):
        LazySession(manager, state(header=alice.id, user="bob")).checkpoints()
    assert recording.calls == ["get_session"]
    assert len(LazySession(manager, state(header=alice.id, user="alice")).checkpoints()) == 1


def test_the_handles_take_every_call_from_the_session() -> None:
    for handle, session in ((LazySession, Session), (AsyncLazySession, AsyncSession)):
        calls = [n for n, m in vars(session).items() if inspect.isfunction(m) and n[0] != "_"]
        assert len(calls) >= 18
        for name in calls:
            assert getattr(handle, name).__doc__ == getattr(session, name).__doc__, name
        for name, member in vars(session).items():
            if isinstance(member, property):
                assert isinstance(getattr(handle, name), property), name


class _Counting(Mapping[str, Any]):
    """A message that counts how often it is read whole."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.reads = 0

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.reads += 1
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_a_first_write_checks_its_data_once(manager: SessionManager) -> None:
    handle = LazySession(manager, state())
    message = _Counting({"role": "user", "content": "hi"})
    handle.append(message)
    assert message.reads == 1
    assert [e.data["content"] for e in handle.messages()] == ["hi"]


def test_one_rule_for_user_ids() -> None:
    import uuid

    from agentsession.integrations._web.resolution import user_id_of

    assert user_id_of(None) is None and user_id_of("alice") == "alice"
    assert user_id_of(42) == "42"
    assert user_id_of(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    for bad in (True, 4.2, object(), b"alice"):
        with pytest.raises(TypeError, match="get_user_id must return"):
            user_id_of(bad)


def test_with_no_store_the_configuration_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTSESSION_CONFIG", raising=False)
    db = tmp_path / "configured.db"
    (tmp_path / "agentsession.toml").write_text(
        f'store = "sqlite:///{db}"\nttl = "1h"\nmax_messages = 50\n[compression]\nmin_bytes = 64\n'
    )
    with WebSettings(agent="chat").sync_manager() as manager:
        assert manager.ttl == timedelta(hours=1) and manager.max_messages == 50
        manager.create("chat").append({"role": "user", "content": "compressible " * 40})
    assert db.exists() and b"compressible compressible" not in db.read_bytes()
    explicit = WebSettings(agent="chat", ttl=timedelta(minutes=5)).sync_manager()
    assert explicit.ttl == timedelta(minutes=5) and explicit.max_messages == 50  # given wins
    explicit.close()
    with SessionManager(f"sqlite:///{db}") as plain:  # a store given: no file read
        assert WebSettings(agent="chat", store=plain.store).sync_manager().ttl is None
