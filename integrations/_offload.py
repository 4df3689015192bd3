"""A sync store as an async one, each call run in a thread through asgiref.

Async views of the WSGI frameworks (Django under WSGI, Flask) get a fresh
event loop per request, so an async store opened for one would be opened and
dropped on every request; they use the app's sync store this way instead.
Framework-neutral (asgiref only), so that neither framework imports the other.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from agentsession import AsyncSessionManager, SessionManager, Store

__all__ = ["SyncToAsyncStore", "is_sync_store", "offloaded"]


def is_sync_store(store: object) -> bool:
    """A store object (not a URL) whose methods are plain functions."""
    method = getattr(store, "get_session", None)
    return callable(method) and not inspect.iscoroutinefunction(method)


def _offload(name: str) -> Callable[..., Any]:
    async def method(self: SyncToAsyncStore, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self.sync, name)
        return await sync_to_async(call, thread_sensitive=True)(*args, **kwargs)

    method.__name__ = name
    return method


class SyncToAsyncStore:
    """The async face of a sync store.

    Calls run through ``sync_to_async(thread_sensitive=True)``, as Django's own
    async ORM methods do: inside ``async_to_sync`` (how Django and Flask run an
    async view from a WSGI thread) that is the request's own thread, so a store
    that keeps per-thread connections (the ORM store) sees one thread, and its
    transactions never straddle two.
    """

    def __init__(self, sync: Store) -> None:
        self.sync = sync

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.sync!r}>"

    create_session = _offload("create_session")
    get_session = _offload("get_session")
    list_sessions = _offload("list_sessions")
    delete_session = _offload("delete_session")
    append = _offload("append")
    read_path = _offload("read_path")
    get_entry = _offload("get_entry")
    set_head = _offload("set_head")
    save_checkpoint = _offload("save_checkpoint")
    get_checkpoint = _offload("get_checkpoint")
    list_checkpoints = _offload("list_checkpoints")
    list_leaves = _offload("list_leaves")
    update_session = _offload("update_session")
    rotate_id = _offload("rotate_id")
    prune_expired = _offload("prune_expired")
    export_session = _offload("export_session")
    import_session = _offload("import_session")
    close = _offload("close")


def offloaded(manager: SessionManager) -> AsyncSessionManager:
    """An async manager on ``manager``'s store, with the same options and clock.

    No I/O here. It shares the store and never closes it: close ``manager``
    (its clock then raises ``StoreClosed``, so this one stops too).
    """
    return AsyncSessionManager(
        SyncToAsyncStore(manager.store),
        ttl=manager.ttl,
        idle_timeout=manager.idle_timeout,
        max_messages=manager.max_messages,
        checkpoint_every=manager.checkpoint_every,
        max_entry_bytes=manager.max_entry_bytes,
        clock=manager.now,
    )
