"""Starlette and FastAPI helpers on top of :class:`AgentSessionMiddleware`.

Usage, options and behaviour: ``docs/web/asgi.md``, "Starlette and FastAPI".
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
