"""Errors that escape an endpoint get the same JSON response wherever the
middleware sits: ``add_middleware``, or wrapping a Starlette / FastAPI app
from outside (where Starlette's ServerErrorMiddleware would answer 500 first
without the exception handlers the middleware installs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from agentsession import AgentSessionError, SessionNotFound
from agentsession.integrations.asgi import Receive, Scope, Send
from agentsession.integrations.starlette import (
    AgentSessionMiddleware,
    agent_session,
    exception_handlers,
)

from .web_apps import TestClient
from .web_support import HAVE_SQLITE, KEY, Backend

UNKNOWN = {"X-Session-ID": "no-such-session-00"}


async def _read(request: Request) -> Response:
    return JSONResponse({"messages": len(await agent_session(request).messages())})


async def _write(request: Request) -> Response:
    await agent_session(request).append({"role": "user", "content": "hi"})
    return JSONResponse({})


async def _conflict(request: Request) -> Response:
    await agent_session(request).append({"content": "x"}, expected_head="stale-head-id")
    return JSONResponse({})


async def _bad(request: Request) -> Response:
    await agent_session(request).append({"value": float("nan")})
    return JSONResponse({})


async def _ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await agent_session(websocket).messages()
    await websocket.send_text("unreachable for an unknown id")


ROUTES = [
    Route("/read", _read),
    Route("/write", _write, methods=["POST"]),
    Route("/conflict", _conflict, methods=["POST"]),
    Route("/bad", _bad, methods=["POST"]),
    WebSocketRoute("/ws", _ws),
]


class _Wrapper:
    """Some other ASGI layer between the middleware and the Starlette app."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def placed(placement: str, store: Any, **app_options: Any) -> Any:
    """The chat routes in a Starlette or FastAPI app, the middleware placed so."""
    options: dict[str, Any] = {"store": store, "agent": "chat", "secret_key": KEY}
    cls: Callable[..., Starlette] = FastAPI if placement.startswith("fastapi") else Starlette
    if placement == "behind-wrapper":  # the handlers have to be passed by hand
        app_options["exception_handlers"] = exception_handlers()
    app = cls(routes=ROUTES, **app_options)
    if placement.endswith("add_middleware"):
        app.add_middleware(AgentSessionMiddleware, **options)
        return app
    return AgentSessionMiddleware(
        _Wrapper(app) if placement == "behind-wrapper" else app, **options
    )


REFERENCE = "add_middleware"
PLACEMENTS = ["outer", "fastapi-add_middleware", "fastapi-outer", "behind-wrapper"]
# case -> method, path, headers, status, error code
CASES = {
    "404": ("GET", "/read", UNKNOWN, 404, "session_not_found"),
    "409": ("POST", "/conflict", {}, 409, "conflict"),
    "422": ("POST", "/bad", {}, 422, "invalid_input"),
    "503": ("POST", "/write", {}, 503, "store_unavailable"),
}


def _reply(app: Any, case: str) -> tuple[int, Any, list[tuple[str, str]]]:
    method, path, headers, _, _ = CASES[case]
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.request(method, path, headers=headers)
        return r.status_code, r.json(), sorted(r.headers.multi_items())


def _store(case: str, tmp_path: Path) -> Any:
    if case == "503":  # a directory where the SQLite file should be
        (tmp_path / "down.db").mkdir(parents=True)
        return f"sqlite:///{tmp_path / 'down.db'}"
    return Backend.create(tmp_path).async_store()


@pytest.mark.skipif(not HAVE_SQLITE, reason="no SQLite store here")
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_same_error_response_wherever_the_middleware_sits(
    placement: str, case: str, tmp_path: Path
) -> None:
    reference = _reply(placed(REFERENCE, _store(case, tmp_path / "ref")), case)
    reply = _reply(placed(placement, _store(case, tmp_path / placement)), case)
    status, code = CASES[case][3:]
    assert (reference[0], reference[1]["error"]) == (status, code)
    assert reply == reference


@pytest.mark.parametrize("placement", [REFERENCE, *PLACEMENTS])
def test_websocket_error_closes_with_its_code_wherever_the_middleware_sits(
    placement: str, tmp_path: Path
) -> None:
    app = placed(placement, Backend.create(tmp_path).async_store())
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDisconnect) as caught,
        client.websocket_connect("/ws", headers=UNKNOWN) as ws,
    ):
        ws.receive_text()
    assert caught.value.code == 4404


async def _mine(request: Request, exc: Exception) -> Response:
    return JSONResponse({"mine": type(exc).__name__}, status_code=418)


@pytest.mark.parametrize(
    ("own", "conflict_status"), [(SessionNotFound, 409), (AgentSessionError, 418)]
)
def test_the_apps_own_handlers_are_kept(
    own: type[Exception], conflict_status: int, tmp_path: Path
) -> None:
    app = placed("outer", Backend.create(tmp_path).async_store(), exception_handlers={own: _mine})
    with TestClient(app) as client:
        reply = client.get("/read", headers=UNKNOWN)
        assert (reply.status_code, reply.json()) == (418, {"mine": "SessionNotFound"})
        # Errors the app's handlers do not cover still get ours.
        assert client.post("/conflict").status_code == conflict_status


def test_a_session_sealed_under_another_key_is_a_500_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("cryptography", reason="the crypto extra is not installed")
    from agentsession import SessionManager
    from agentsession.sealed import AsyncSealedStore, KeyRing, SealedStore

    url = f"sqlite:///{tmp_path / 's.db'}"
    with SessionManager(SealedStore(url, keys=KeyRing([("k1", b"1" * 32)]))) as manager:
        sealed = manager.create("chat")
        sealed.append({"role": "user", "content": "under k1"})
        before = manager.export_session(sealed.id)
    wrong = AsyncSealedStore(url, keys=KeyRing([("k2", b"2" * 32)]))
    app = placed("add_middleware", wrong)
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in (("GET", "/read"), ("POST", "/write")):
            r = client.request(method, path, headers={"X-Session-ID": sealed.id})
            assert r.status_code == 500, (path, r.text)
            assert r.json()["error"] == "integrity_error"
            assert "k1" not in r.text and sealed.id not in r.text
    asyncio.run(wrong.close())  # a store passed in is the caller's to close
    assert any("MissingKey" in record.getMessage() for record in caplog.records)
    with SessionManager(SealedStore(url, keys=KeyRing([("k1", b"1" * 32)]))) as manager:
        assert manager.export_session(sealed.id) == before  # nothing written
