"""A sync store as an async one, each call run in a thread through asgiref.

Async views of the WSGI frameworks (Django under WSGI, Flask) get a fresh
event loop per request, so an async store opened for one would be opened and
dropped on every request; they use the app's sync store this way instead.
Framework-neutral (asgiref only), so that neither framework imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async

from agentsession import AsyncSessionManager, SessionManager, Store
from agentsession.store import AsyncBridge, is_async_store

T = TypeVar("T")

__all__ = ["SyncToAsyncStore", "is_sync_store", "offloaded"]


def is_sync_store(store: object) -> bool:
    """A store object (not a URL) whose methods are plain functions."""
    method = getattr(store, "get_session", None)
    return callable(method) and not is_async_store(store)


class _ThreadSensitive:
    """Runs each call through ``sync_to_async(thread_sensitive=True)``."""

    async def run(self, fn: Callable[[], T]) -> T:
        return await sync_to_async(fn, thread_sensitive=True)()

    async def close(self, fn: Callable[[], None]) -> None:
        await self.run(fn)


class SyncToAsyncStore(AsyncBridge):
    """The async face of a sync store.

    Calls run through ``sync_to_async(thread_sensitive=True)``, as Django's own
    async ORM methods do: inside ``async_to_sync`` (how Django and Flask run an
    async view from a WSGI thread) that is the request's own thread, so a store
    that keeps per-thread connections (the ORM store) sees one thread, and its
    transactions never straddle two.
    """

    def __init__(self, sync: Store) -> None:
        self.sync = sync
        super().__init__(lambda name: getattr(sync, name), _ThreadSensitive(), sync.close)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.sync!r}>"


def offloaded(manager: SessionManager) -> AsyncSessionManager:
    """An async manager on ``manager``'s store, with the same options and clock.

    No I/O here. It shares the store and never closes it: close ``manager``
    (its clock then raises ``StoreClosed``, so this one stops too).
    """
    return AsyncSessionManager(SyncToAsyncStore(manager.store), **manager.options())
