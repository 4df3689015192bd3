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

``agentsession.current_session()`` returns the async handle everywhere in the
request (streaming responses included); in a sync endpoint, use
``sync_session(request)`` instead. The sync view sends each store call back to
the event loop (``anyio.from_thread.run``) and shares the request's state with
the async handle: one session, one set of response headers.

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

from .asgi import STATE_KEY, AgentSessionMiddleware

try:
    import anyio.from_thread
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "agentsession.integrations.starlette needs Starlette: pip install agentsession[starlette]"
    ) from exc

from ._web import AsyncLazySession, LazySession, sync_view

__all__ = [
    "AgentSessionMiddleware",
    "AsyncLazySession",
    "LazySession",
    "agent_session",
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
    for the same request.
    """
    state = request.scope.setdefault("state", {})
    view = state.get(_SYNC_KEY)
    if not isinstance(view, LazySession):
        view = state[_SYNC_KEY] = sync_view(agent_session(request), anyio.from_thread.run)
    return view
