"""What is particular to the ASGI middleware: lifespan, scopes, websockets,
streaming, Starlette's authenticated user, the contextvar around the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from agentsession import (
    AsyncStore,
    NoSessionInContext,
    SessionNotFound,
    StoreClosed,
    current_session,
)
from agentsession.integrations import CookiesDisabledWarning
from agentsession.integrations.asgi import AgentSessionMiddleware, Receive, Scope, Send
from agentsession.integrations.starlette import agent_session
from agentsession.stores import AsyncMemoryStore, MemoryStore

from .web_apps import TestClient
from .web_support import KEY, Backend, forge_cookie


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend.create(tmp_path)


async def _chat(request: Request) -> Response:
    s = agent_session(request)
    if request.method == "POST":
        await s.append({"role": "user", "content": "hi"})
    return JSONResponse({"messages": len(await s.messages()), "user": s.user_id})


async def _stream(request: Request) -> Response:
    handle = agent_session(request)

    async def body() -> AsyncIterator[bytes]:
        yield b"first;"
        await asyncio.sleep(0)
        # Still the request's session while the body streams.
        yield f"same={current_session() is handle};".encode()
        await handle.append({"role": "assistant", "content": "streamed"})
        yield f"count={len(await handle.messages())}".encode()

    return StreamingResponse(body())


async def _ws(websocket: WebSocket) -> None:
    s = agent_session(websocket)
    if websocket.query_params.get("create"):
        await s.append({"role": "user", "content": "before accept"})
    await websocket.accept()
    text = await websocket.receive_text()
    await s.append({"role": "user", "content": text})
    await websocket.send_json({"messages": [m.data["content"] for m in await s.messages()]})
    await websocket.close()


def app(backend: Backend, *extra: Middleware, **options: Any) -> Starlette:
    options.setdefault("secret_key", KEY)
    routes = [
        Route("/chat", _chat, methods=["GET", "POST"]),
        Route("/stream", _stream),
        WebSocketRoute("/ws", _ws),
    ]
    session = Middleware(
        AgentSessionMiddleware, store=backend.async_store(), agent="chat", **options
    )
    return Starlette(routes=routes, middleware=[*extra, session])


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(app(backend)) as c:
        yield c


def new_session(client: TestClient) -> str:
    reply = client.post("/chat")
    client.cookies.clear()
    return reply.headers["x-session-id"]


# -- lifespan and scopes -----------------------------------------------------------


def _store_is_open(store: AsyncStore) -> bool:
    async def probe() -> bool:
        try:
            await store.get_session("no-such-session-0", now=datetime.now(UTC))
        except StoreClosed:
            return False
        except SessionNotFound:
            return True
        raise AssertionError("found a session that was never created")

    return asyncio.run(probe())


def test_store_from_a_url_opened_at_startup_closed_at_shutdown(backend: Backend) -> None:
    inner = Starlette(routes=[Route("/chat", _chat, methods=["POST"])])
    middleware = AgentSessionMiddleware(inner, store=backend.url or "memory://", secret_key=KEY)
    assert middleware._manager is None
    with TestClient(middleware) as client:
        assert middleware._manager is not None  # opened at startup
        store = middleware.manager.store
        assert client.post("/chat").status_code == 200
    assert middleware._manager is None
    assert not _store_is_open(store)


def test_store_object_passed_in_is_never_closed() -> None:
    store = AsyncMemoryStore(MemoryStore())
    inner = Starlette(routes=[Route("/chat", _chat, methods=["POST"])])
    middleware = AgentSessionMiddleware(inner, store=store, secret_key=KEY)
    with TestClient(middleware) as client:
        assert middleware.manager.store is store
        session_id = client.post("/chat").headers["x-session-id"]
    assert middleware._manager is None
    assert _store_is_open(store)  # the caller's to close
    with TestClient(middleware) as client:  # a second lifespan on the same store
        reply = client.post("/chat", headers={"X-Session-ID": session_id})
        assert reply.json()["messages"] == 2
    asyncio.run(store.close())


def test_other_scope_types_pass_through() -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    middleware = AgentSessionMiddleware(inner, store="memory://", secret_key=KEY)
    scope: Scope = {"type": "custom", "headers": [(b"x-session-id", b"../bad")]}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    assert seen == [{"type": "custom", "headers": [(b"x-session-id", b"../bad")]}]


def test_context_is_set_for_the_app_and_reset_after() -> None:
    seen: list[object] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(current_session())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def run() -> None:
        middleware = AgentSessionMiddleware(inner, store="memory://", secret_key=KEY)
        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await middleware(scope, None, send)  # type: ignore[arg-type]
        assert seen == [scope["state"]["agent_session"]]
        with pytest.raises(NoSessionInContext):
            current_session()
        assert sent[0]["status"] == 204
        await middleware.aclose()

    asyncio.run(run())


def test_streaming_response_keeps_the_session(client: TestClient) -> None:
    reply = client.get("/stream")
    assert reply.text == "first;same=True;count=1"
    # Created while the body streamed: too late for headers, but stored.
    assert "x-session-id" not in reply.headers


def test_disabled_middleware_sets_nothing(backend: Backend) -> None:
    with TestClient(app(backend, enabled=False)) as client, pytest.raises(RuntimeError):
        client.get("/chat")


def test_without_secret_key_only_the_header_is_used(backend: Backend) -> None:
    client = TestClient(app(backend, secret_key=None))
    with pytest.warns(CookiesDisabledWarning, match="no secret key"):
        client.__enter__()  # Starlette builds the middleware at startup
    try:
        reply = client.post("/chat")
        assert "set-cookie" not in reply.headers
        session_id = reply.headers["x-session-id"]
        again = client.post("/chat", headers={"X-Session-ID": session_id})
        assert again.json()["messages"] == 2
    finally:
        client.__exit__(None, None, None)


def test_request_headers_found_whatever_their_case_and_number(backend: Backend) -> None:
    # Servers should lowercase header names (the ASGI spec), but need not; a
    # request may carry its cookies over several Cookie headers.
    async def run() -> list[tuple[int, dict[bytes, bytes]]]:
        middleware = AgentSessionMiddleware(
            _raw_chat, store=backend.async_store(), agent="chat", secret_key=KEY
        )
        created = await _raw(middleware, [])
        session_id, cookie = created[1][b"x-session-id"], created[1][b"set-cookie"]
        replies = [
            await _raw(middleware, [(b"X-Session-ID", session_id)]),
            await _raw(middleware, [(b"Cookie", b"a=1"), (b"COOKIE", cookie.split(b";")[0])]),
            await _raw(middleware, [(b"x-session-id", b"b"), (b"X-SESSION-ID", session_id)]),
        ]
        await middleware.aclose()
        return replies

    by_header, by_cookie, twice = asyncio.run(run())
    assert by_header[0] == by_cookie[0] == 200
    # The same session carried on: none issued, no cookie set or cleared.
    assert not {b"x-session-id", b"set-cookie"} & (by_header[1].keys() | by_cookie[1].keys())
    assert twice[0] == 400


async def _raw_chat(scope: Scope, receive: Receive, send: Send) -> None:
    handle = scope["state"]["agent_session"]
    await handle.append({"role": "user", "content": "hi"})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _raw(
    middleware: AgentSessionMiddleware, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes]]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await middleware(scope, None, send)  # type: ignore[arg-type]
    return sent[0]["status"], dict(sent[0]["headers"])


def test_repeated_session_header_is_400(client: TestClient) -> None:
    session_id = new_session(client)
    reply = client.get("/chat", headers=[("X-Session-ID", session_id), ("X-Session-ID", "b")])
    assert reply.status_code == 400


def test_sync_store_object_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = AgentSessionMiddleware(Starlette(), store=MemoryStore(), secret_key=KEY).manager  # type: ignore[arg-type]


# -- users -----------------------------------------------------------------------------------


class _HeaderAuth(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        name = conn.headers.get("authorization", "").removeprefix("user ")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


def test_user_from_starlette_authentication(backend: Backend) -> None:
    auth = Middleware(AuthenticationMiddleware, backend=_HeaderAuth())
    with TestClient(app(backend, auth)) as client:
        reply = client.post("/chat", headers={"Authorization": "user alice"})
        assert reply.json()["user"] == "alice"
        session_id = reply.headers["x-session-id"]
        assert backend.owner(session_id) == "alice"
        # The cookie alone is not enough for bob or for an anonymous caller.
        bob = client.get("/chat", headers={"Authorization": "user bob"})
        assert bob.json()["messages"] == 0
        assert client.cookies.get("agentsession") is None  # cleared
        assert client.get("/chat", headers={"X-Session-ID": session_id}).status_code == 404


def test_get_user_id_gets_the_raw_scope(backend: Backend) -> None:
    seen: list[object] = []

    def user(scope: Scope) -> str | None:
        seen.append(scope)
        conn = HTTPConnection(scope)  # Starlette's view of the scope
        return f"acct-{conn.user.username}" if conn.user.is_authenticated else None

    auth = Middleware(AuthenticationMiddleware, backend=_HeaderAuth())
    with TestClient(app(backend, auth, get_user_id=user)) as client:
        reply = client.post("/chat", headers={"Authorization": "user alice"})
        assert reply.json()["user"] == "acct-alice"
        assert backend.owner(reply.headers["x-session-id"]) == "acct-alice"
        client.cookies.clear()
        assert client.post("/chat").json()["user"] is None
    assert all(isinstance(s, dict) and s["type"] == "http" for s in seen)


def test_async_get_user_id(backend: Backend) -> None:
    async def user(scope: Scope) -> str:
        await asyncio.sleep(0)
        return "carol"

    with TestClient(app(backend, get_user_id=user)) as client:
        assert client.post("/chat").json()["user"] == "carol"


# -- websockets ------------------------------------------------------------------------------


def test_websocket_by_header_and_by_cookie(client: TestClient) -> None:
    session_id = new_session(client)
    with client.websocket_connect("/ws", headers={"X-Session-ID": session_id}) as ws:
        ws.send_text("over ws")
        assert ws.receive_json() == {"messages": ["hi", "over ws"]}
    client.cookies.set("agentsession", forge_cookie(session_id))
    with client.websocket_connect("/ws") as ws:
        ws.send_text("by cookie")
        assert ws.receive_json()["messages"] == ["hi", "over ws", "by cookie"]


def test_websocket_created_before_accept_gets_id_and_cookie(client: TestClient) -> None:
    with client.websocket_connect("/ws?create=1") as ws:
        headers: dict[bytes, bytes] = dict(ws.extra_headers or [])
        ws.send_text("after")
        assert ws.receive_json() == {"messages": ["before accept", "after"]}
    session_id = headers[b"x-session-id"].decode()
    assert headers[b"set-cookie"].decode().startswith(f"agentsession={session_id}.")
    assert b"vary" not in headers


@pytest.mark.parametrize(("value", "code"), [("../x", 4400), ("no-such-session-0", 4404)])
def test_websocket_refused(client: TestClient, value: str, code: int) -> None:
    headers = {"X-Session-ID": value}
    with (  # noqa: PT012
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect("/ws", headers=headers) as ws,
    ):
        ws.send_text("hello")
        ws.receive_json()
    assert caught.value.code == code


def test_an_int_user_id_is_its_string(backend: Backend) -> None:
    with TestClient(app(backend, get_user_id=lambda scope: 7)) as client:
        reply = client.post("/chat")
        assert reply.status_code == 200
    with backend.manager() as manager:
        assert manager.get(reply.headers["x-session-id"]).user_id == "7"


def test_audit_events_carry_the_request(backend: Backend) -> None:
    events: list[Any] = []
    with TestClient(app(backend, audit=events.append)) as client:
        sid = client.post("/chat").headers["x-session-id"]
        refused = client.get("/chat", headers={"X-Session-ID": "no-such-session-000"})
        assert refused.status_code == 404
    writes = [e for e in events if e.action != "get"]
    assert [e.outcome for e in events if e.action == "get"] == ["SessionNotFound"]
    assert writes and all(e.session_id == sid for e in writes)
    assert writes[0].action == "create"
    for event in events:
        assert event.detail["path"] == "/chat"
        assert event.detail["method"] in ("GET", "POST")
        assert event.detail["remote"] == "testclient"
