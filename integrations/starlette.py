"""Starlette and FastAPI helpers on top of :class:`AgentSessionMiddleware`.

Async endpoints use the async handle; sync endpoints (which Starlette and
FastAPI run in a worker thread) use a sync view of the same request session::

    from agentsession.integrations.starlette import (
        AgentSessionMiddleware, agent_session, sync_session,
    )

    app.add_middleware(AgentSessionMiddleware, store="sqlite:///sessions.db",
                       agent="assistant", secret_key=[KEY, OLD_KEY])

    async def chat(request):                       # Starlette, async
        s = agent_session(request)                 # == request.state.agent_session
        await s.append({"role": "user", "content": "hi"})

    def history(request):                          # Starlette, sync (worker thread)
        s = sync_session(request)
        return JSONResponse([m.data for m in s.messages(limit=20)])

    @app.post("/chat")                             # FastAPI
    async def chat(s: AsyncLazySession = Depends(agent_session)): ...

    @app.get("/history")                           # FastAPI, sync endpoint
    def history(s: LazySession = Depends(sync_session)): ...

``agentsession.current_session()`` returns the async handle in async code
(streaming responses included). In a sync endpoint it returns the sync view
once ``sync_session(request)`` has been called in that endpoint: the call sets
it in the worker thread's own copy of the context, which ends with the
endpoint. (A FastAPI ``Depends(sync_session)`` runs in a thread of its own, so
there use the injected handle, or call ``sync_session(request)`` in the
endpoint body first.) The sync view sends each store call back to the event
loop (``anyio.from_thread.run``) and shares the request's state with the async
handle: one session, one set of response headers.

Errors that escape an endpoint become the JSON responses of ``docs/design.md``, "Web layer" (404,
409, 422, 503, ...) wherever the middleware sits: added with
``app.add_middleware`` (or ``middleware=[Middleware(...)]``) it answers them
itself; wrapping the app from outside (``app = AgentSessionMiddleware(app,
...)``) it adds :func:`exception_handlers` to that Starlette/FastAPI app, for
the errors your own handlers do not already cover, because Starlette's
``ServerErrorMiddleware`` would otherwise send a 500 first. Behind any other
wrapper, pass them yourself: ``Starlette(..., exception_handlers=exception_handlers())``.

The user: with Starlette's ``AuthenticationMiddleware`` placed before this one,
an authenticated ``request.user``'s ``identity`` owns the sessions. To pick
another attribute, pass ``get_user_id``; it receives the raw ASGI scope (the
middleware needs no Starlette), which ``HTTPConnection`` wraps::

    from starlette.requests import HTTPConnection

    def user_id(scope):
        user = HTTPConnection(scope).user
        return user.username if user.is_authenticated else None

    app.add_middleware(AgentSessionMiddleware, ..., get_user_id=user_id)
"""

from __future__ import annotations

import asyncio

from agentsession.context import peek_session, set_session
from agentsession.extras import missing_extra

from .asgi import STATE_KEY, AgentSessionMiddleware

try:
    import anyio.from_thread
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.starlette (Starlette)", "starlette") from exc

from ._web import AsyncLazySession, LazySession, sync_view
from ._web.starlette_errors import exception_handlers, install_exception_handlers

__all__ = [
    "AgentSessionMiddleware",
    "AsyncLazySession",
    "LazySession",
    "agent_session",
    "exception_handlers",
    "install_exception_handlers",
    "sync_session",
]

_SYNC_KEY = "agent_session_sync"


def agent_session(request: HTTPConnection) -> AsyncLazySession:
    """The request's async session handle (a FastAPI dependency, too).

    Raises:
        RuntimeError: ``AgentSessionMiddleware`` is not installed or is disabled.
    """
    handle = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(handle, AsyncLazySession):
        raise RuntimeError("no agent session: AgentSessionMiddleware is not installed or disabled")
    return handle


def sync_session(request: HTTPConnection) -> LazySession:
    """A sync view of the request's session, for sync endpoints.

    Call its methods from the worker thread Starlette/FastAPI runs a sync
    endpoint in (not from the event loop). Every call returns the same object
    for the same request. Called in that thread, it also makes the view what
    ``agentsession.current_session()`` returns there.
    """
    state = request.scope.setdefault("state", {})
    handle = agent_session(request)
    view = state.get(_SYNC_KEY)
    if not isinstance(view, LazySession):
        view = state[_SYNC_KEY] = sync_view(handle, anyio.from_thread.run)
    current: object = peek_session()
    if current is handle and not _on_event_loop():
        # The worker runs in a copy of the request's context, discarded when
        # the endpoint returns: async code of the request keeps the async handle.
        set_session(view)
    return view


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
