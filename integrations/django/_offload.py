"""Any sync store as an async one, each call run through ``sync_to_async``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from agentsession import Store

__all__ = ["SyncToAsyncStore", "is_sync_store"]


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
    async ORM methods do, so a store that keeps per-thread connections (the ORM
    store) sees one thread, and its transactions never straddle two.
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
