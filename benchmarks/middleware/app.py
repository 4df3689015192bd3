"""The app under load, one of three ways (``BENCH_MODE``), on ``BENCH_STORE``:

- ``middleware``: ``AgentSessionMiddleware``; handlers use ``request.state.agent_session``.
- ``direct``: no middleware; the same handlers get the session from the store
  themselves (``X-Session-ID`` header -> ``AsyncSessionManager.get``): the
  same store calls as the middleware's, request for request (``run.py``
  checks that before it measures: ``store_calls``).
- ``starlette``: Starlette's own cookie ``SessionMiddleware``, the conversation
  kept in the signed cookie itself.

Endpoints: ``POST /write`` appends one user message and returns the last 20;
``GET /read`` returns the last 20; ``POST /setup`` makes a session of 5 messages
(the response carries its id and cookie); ``POST /raw`` (middleware only)
appends the body as it is, for ``hostile.py``.

    BENCH_MODE=middleware BENCH_STORE=sqlite:////tmp/s.db \\
        uvicorn benchmarks.middleware.app:app --workers 1
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentsession import AgentSessionError, AsyncSessionManager, AsyncStore, open_async_store
from agentsession.integrations.asgi import AgentSessionMiddleware

from ..workload import messages

MODE = os.environ.get("BENCH_MODE", "middleware")
STORE = os.environ.get("BENCH_STORE", "memory://")
SECRET = "benchmark-secret-key-not-for-production"
AGENT = "bench"
SETUP_MESSAGES = 5


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": str(payload["content"])}


# -- middleware ----------------------------------------------------------------


async def mw_write(request: Request) -> JSONResponse:
    s = request.state.agent_session
    await s.append(_message(await request.json()))
    return JSONResponse([m.data for m in await s.messages(limit=20)])


async def mw_read(request: Request) -> JSONResponse:
    s = request.state.agent_session
    return JSONResponse([m.data for m in await s.messages(limit=20)])


async def mw_raw(request: Request) -> JSONResponse:
    """Appends the request's JSON object as it is (the hostile-body benchmark)."""
    s = request.state.agent_session
    try:
        await s.append(await request.json())
    except AgentSessionError as exc:
        return JSONResponse({"error": type(exc).__name__}, status_code=422)
    return JSONResponse({"ok": True})


async def mw_setup(request: Request) -> JSONResponse:
    s = request.state.agent_session
    await s.extend(messages(0, SETUP_MESSAGES))
    return JSONResponse({"id": s.id})


# -- direct: the same handlers, the store called by hand -------------------------

_manager: AsyncSessionManager | None = None


def _mgr() -> AsyncSessionManager:
    assert _manager is not None
    return _manager


async def direct_write(request: Request) -> JSONResponse:
    s = await _mgr().get(request.headers["x-session-id"])
    await s.append(_message(await request.json()))
    return JSONResponse([m.data for m in await s.messages(limit=20)])


async def direct_read(request: Request) -> JSONResponse:
    s = await _mgr().get(request.headers["x-session-id"])
    return JSONResponse([m.data for m in await s.messages(limit=20)])


async def direct_setup(request: Request) -> JSONResponse:
    s = await _mgr().create(AGENT)
    await s.extend(messages(0, SETUP_MESSAGES))
    return JSONResponse({"id": s.id})


def direct_lifespan(
    store: str | AsyncStore,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        global _manager
        opened = open_async_store(store) if isinstance(store, str) else store
        _manager = AsyncSessionManager(opened)
        try:
            yield
        finally:
            if isinstance(store, str):  # else the caller's, as with the middleware
                await _manager.close()

    return lifespan


# -- Starlette's cookie session ------------------------------------------------------


async def st_write(request: Request) -> JSONResponse:
    kept = list(request.session.get("messages", []))
    kept.append(_message(await request.json()))
    request.session["messages"] = kept[-SETUP_MESSAGES:]  # a cookie holds ~4 kB at most
    return JSONResponse(kept[-20:])


async def st_read(request: Request) -> JSONResponse:
    return JSONResponse(request.session.get("messages", [])[-20:])


async def st_setup(request: Request) -> JSONResponse:
    request.session["messages"] = messages(0, SETUP_MESSAGES)
    return JSONResponse({"id": None})


def build(mode: str, store: str | AsyncStore = STORE) -> Starlette:
    """The app of ``mode`` on ``store`` (a URL, or a store object the caller closes)."""
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]] | None
    if mode == "middleware":
        handlers = (mw_write, mw_read, mw_setup)
        middleware = [
            Middleware(AgentSessionMiddleware, store=store, agent=AGENT, secret_key=SECRET)
        ]
        lifespan = None
    elif mode == "direct":
        handlers = (direct_write, direct_read, direct_setup)
        middleware = []
        lifespan = direct_lifespan(store)
    elif mode == "starlette":
        from starlette.middleware.sessions import SessionMiddleware

        handlers = (st_write, st_read, st_setup)
        middleware = [Middleware(SessionMiddleware, secret_key=SECRET)]
        lifespan = None
    else:
        raise SystemExit(f"BENCH_MODE must be middleware, direct or starlette, not {mode!r}")
    write, read, setup = handlers
    routes = [
        Route("/write", write, methods=["POST"]),
        Route("/read", read, methods=["GET"]),
        Route("/setup", setup, methods=["POST"]),
    ]
    if mode == "middleware":
        routes.append(Route("/raw", mw_raw, methods=["POST"]))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


app = build(MODE)
