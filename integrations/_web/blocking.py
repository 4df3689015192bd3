"""A sync view of an async request session, for sync views under ASGI.

Starlette runs sync endpoints in a worker thread; Django runs sync views under
ASGI the same way. Their store is the app's async store, owned by the event
loop, so the sync view does not open a second store: :class:`BlockingStore`
sends each store call back to the loop (``anyio.from_thread.run`` or asgiref's
``async_to_sync``) and a generated sync :class:`LazySession` works on top of
it, sharing the request's state with the async handle.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from agentsession import AsyncStore, SessionManager
from agentsession.store import Bridge

from ._async.handle import AsyncLazySession
from ._sync.handle import LazySession

__all__ = ["BlockingStore", "Runner", "sync_view"]

T = TypeVar("T")

#: Runs a zero-argument coroutine function on the event loop from a worker
#: thread and returns its result (``anyio.from_thread.run`` is one).
Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


class _OnLoop:
    """Sends each call back to the event loop; closing is the app's business."""

    def __init__(self, run: Runner) -> None:
        self._run = run

    def run(self, fn: Callable[[], T]) -> T:
        return cast(T, self._run(cast(Callable[[], Coroutine[Any, Any, Any]], fn)))

    def close(self, fn: Callable[[], None]) -> None:
        """Nothing: the async store belongs to the app, which closes it."""


class BlockingStore(Bridge):
    """Every :class:`Store` method, forwarded to an :class:`AsyncStore` via ``run``."""

    def __init__(self, store: AsyncStore, run: Runner) -> None:
        super().__init__(lambda name: getattr(store, name), _OnLoop(run), _nothing)


def _nothing() -> None:
    pass


def sync_view(handle: AsyncLazySession, run: Runner) -> LazySession:
    """A sync :class:`LazySession` on the same request session as ``handle``.

    Call it from the worker thread (no I/O happens here). Both objects share
    the request's state: whichever resolves or creates the session first, the
    other sees it, and the response headers cover both.
    """
    source = handle._manager
    manager = SessionManager(BlockingStore(source.store, run), **source.options())
    return LazySession(manager, handle._state)
