"""The chat demo on Starlette: ``AgentSessionMiddleware`` and async endpoints.

The middleware gives every request ``request.state.agent_session``: the
session named by the ``X-Session-ID`` header or the signed cookie, created on
the first write and owned by ``request.user`` (set here by a demo login).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agentsession import AsyncSession, AsyncSessionManager, open_async_store
from agentsession.integrations.starlette import AgentSessionMiddleware, agent_session

from ..shared import AGENT_NAME, STATIC_DIR, api, config
from ..shared.agent import Agent, make_agent


class DemoLogin(AuthenticationBackend):
    """DEMO ONLY: whoever types a name is that user. Use real authentication."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        user = conn.session.get("user")
        return (AuthCredentials(["authenticated"]), SimpleUser(user)) if user else None


def _user(request: Request) -> str | None:
    return str(request.user.identity) if request.user.is_authenticated else None


async def _body(request: Request) -> Any:
    return api.parse_json(request.headers.get("content-type"), await request.body())


async def page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


async def me(request: Request) -> JSONResponse:
    agent: Agent = request.app.state.agent
    return JSONResponse({"user": _user(request), "agent": agent.label})


async def login(request: Request) -> JSONResponse:
    request.session["user"] = api.read_user(await _body(request))
    return JSONResponse({"user": request.session["user"]})


async def logout(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"user": None})


async def messages(request: Request) -> JSONResponse:
    s = agent_session(request)
    return JSONResponse({"messages": [api.message_json(m) for m in await s.messages()]})


async def send(request: Request) -> JSONResponse:
    content = api.read_content(await _body(request))
    s = agent_session(request)
    agent: Agent = request.app.state.agent

    async def answer(text: str, session: AsyncSession) -> str:
        history = api.with_new(await session.messages(), text)
        return await run_in_threadpool(agent.reply, history)

    # One turn: the message and the reply are written together (creating the session).
    turn = await s.run(answer, content, on_conflict="append")
    if "title" not in s.metadata:
        await s.update_metadata({"title": api.title_for(content)})
    return JSONResponse(api.turn_json(turn))


async def checkpoints(request: Request) -> JSONResponse:
    points = await agent_session(request).checkpoints()
    return JSONResponse({"checkpoints": [api.checkpoint_json(p) for p in points]})


async def checkpoint(request: Request) -> JSONResponse:
    name = api.read_name(await _body(request))
    s = agent_session(request)
    count = len(await s.messages())
    point = await s.checkpoint(name, {"message_count": count})
    return JSONResponse({"checkpoint": api.checkpoint_json(point)}, status_code=201)


async def restore(request: Request) -> JSONResponse:
    s = agent_session(request)
    point = await s.restore(api.read_id(await _body(request), "checkpoint_id"))
    listed = [api.message_json(m) for m in await s.messages()]
    return JSONResponse({"checkpoint": api.checkpoint_json(point), "messages": listed})


async def branches(request: Request) -> JSONResponse:
    return JSONResponse({"branches": api.branches_json(await agent_session(request).branches())})


async def switch(request: Request) -> JSONResponse:
    s = agent_session(request)
    await s.switch(api.read_id(await _body(request), "entry_id"))
    return JSONResponse({"messages": [api.message_json(m) for m in await s.messages()]})


async def sessions(request: Request) -> JSONResponse:
    current = await agent_session(request).get()
    user = _user(request)
    if user is None:  # anonymous: only the session this browser holds
        mine = [current.info] if current is not None else []
    else:
        manager: AsyncSessionManager = request.app.state.sessions
        mine = await manager.list(AGENT_NAME, user_id=user)
    current_id = current.id if current is not None else None
    return JSONResponse({"sessions": [api.session_json(i, current_id) for i in mine]})


async def new_session(request: Request) -> JSONResponse:
    manager: AsyncSessionManager = request.app.state.sessions
    session = await manager.create(AGENT_NAME, user_id=_user(request))
    return JSONResponse({"session": api.session_json(session.info, session.id)}, status_code=201)


async def delete_session(request: Request) -> JSONResponse:
    return JSONResponse({"deleted": await agent_session(request).delete()})


async def bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "message": str(exc)}, status_code=400)


def create_app(
    store: str | None = None, *, agent: Agent | None = None, secret_key: str | None = None
) -> Starlette:
    """The app; ``store`` is a store URL (default: ``shared.config.store_url()``)."""
    key = secret_key or config.secret_key()
    # One store for the middleware and for the two views that list and create sessions.
    session_store = open_async_store(store or config.store_url())
    manager = AsyncSessionManager(session_store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.close()  # the store object is ours: the middleware leaves it open

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/me", me),
            Route("/api/login", login, methods=["POST"]),
            Route("/api/logout", logout, methods=["POST"]),
            Route("/api/messages", messages),
            Route("/api/messages", send, methods=["POST"]),
            Route("/api/checkpoints", checkpoints),
            Route("/api/checkpoints", checkpoint, methods=["POST"]),
            Route("/api/checkpoints/restore", restore, methods=["POST"]),
            Route("/api/branches", branches),
            Route("/api/branches/switch", switch, methods=["POST"]),
            Route("/api/sessions", sessions),
            Route("/api/sessions", new_session, methods=["POST"]),
            Route("/api/session", delete_session, methods=["DELETE"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR)),
        ],
        middleware=[
            # The demo login lives in Starlette's own signed session cookie ...
            Middleware(SessionMiddleware, secret_key=key, session_cookie="demo_login"),
            Middleware(AuthenticationMiddleware, backend=DemoLogin()),
            # ... and the agent session comes last, so it sees request.user.
            Middleware(
                AgentSessionMiddleware,
                store=session_store,
                agent=AGENT_NAME,
                secret_key=key,
                idle_timeout=config.IDLE_TIMEOUT,  # unused conversations expire
            ),
        ],
        exception_handlers={api.BadRequest: bad_request},
        lifespan=lifespan,
    )
    app.state.agent = agent or make_agent()
    app.state.sessions = manager
    return app
