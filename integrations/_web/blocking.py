"""A sync view of an async request session, for sync views under ASGI.

Starlette runs sync endpoints in a worker thread; Django runs sync views under
ASGI the same way. Their store is the app's async store, owned by the event
loop, so the sync view does not open a second store: :class:`BlockingStore`
sends each store call back to the loop (``anyio.from_thread.run`` or asgiref's
``async_to_sync``) and a generated sync :class:`LazySession` works on top of
it, sharing the request's state with the async handle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, cast

from agentsession._async.protocol import AsyncStore
from agentsession._sync.manager import SessionManager
from agentsession._sync.protocol import Store

from ._async.handle import AsyncLazySession
from ._sync.handle import LazySession

__all__ = ["BlockingStore", "Runner", "sync_view"]

#: Runs a zero-argument coroutine function on the event loop from a worker
#: thread and returns its result (``anyio.from_thread.run`` is one).
Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


class BlockingStore:
    """Every :class:`Store` method, forwarded to an :class:`AsyncStore` via ``run``."""

    def __init__(self, store: AsyncStore, run: Runner) -> None:
        self._store = store
        self._run = run

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(functools.partial(method, *args, **kwargs))

        return call

    def close(self) -> None:
        """No-op: the async store belongs to the app, which closes it."""


def sync_view(handle: AsyncLazySession, run: Runner) -> LazySession:
    """A sync :class:`LazySession` on the same request session as ``handle``.

    Call it from the worker thread (no I/O happens here). Both objects share
    the request's state: whichever resolves or creates the session first, the
    other sees it, and the response headers cover both.
    """
    source = handle._manager
    manager = SessionManager(
        cast(Store, BlockingStore(source.store, run)),
        ttl=source.ttl,
        idle_timeout=source.idle_timeout,
        max_messages=source.max_messages,
        checkpoint_every=source.checkpoint_every,
        max_entry_bytes=source.max_entry_bytes,
        clock=source.now,
    )
    return LazySession(manager, handle._state)
