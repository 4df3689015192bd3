"""Support for testing the ORM store: databases, thread hygiene, tampering."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from agentsession.integrations.django.models import StoredEntry
from agentsession.integrations.django.store import AsyncDjangoStore, DjangoStore

__all__ = ["DATABASES", "CountingStore", "ThreadTidyStore", "close_async_connections", "tamper"]

#: Every database alias the ORM store is tested on ("pg" when configured).
DATABASES = ["default", "pg"] if "pg" in connections else ["default"]


_PROTOCOL = frozenset(n for n in vars(DjangoStore) if not n.startswith("_")) - {"from_url"}


class ThreadTidyStore(DjangoStore):
    """The ORM store, closing the connections its worker threads opened.

    Django keeps one connection per thread and leaves closing it to whoever
    started the thread (it does so itself at the end of each request); the
    suite's worker threads know nothing of Django, so the fixture closes them.
    """

    def __init__(self, using: str) -> None:
        super().__init__(using)
        self._lock = threading.Lock()
        self._borrowed: dict[int, BaseDatabaseWrapper] = {}

    def __getattribute__(self, name: str) -> Any:
        if name in _PROTOCOL and threading.current_thread() is not threading.main_thread():
            self._borrow()
        return super().__getattribute__(name)

    def _borrow(self) -> None:
        ident = threading.get_ident()
        with self._lock:
            if ident not in self._borrowed:
                connection = connections[super().__getattribute__("using")]
                connection.inc_thread_sharing()
                self._borrowed[ident] = connection

    def close(self) -> None:
        super().close()
        with self._lock:
            borrowed, self._borrowed = list(self._borrowed.values()), {}
        for connection in borrowed:
            connection.close()
            connection.dec_thread_sharing()


async def close_async_connections() -> None:
    """Close the connections of the thread ``sync_to_async`` runs the ORM in."""
    await sync_to_async(connections.close_all, thread_sensitive=True)()


def tamper(store: Any, session_id: str, entry_id: str, data: dict[str, Any]) -> None:
    """Rewrite one entry's stored JSON with the ORM, behind the store's back
    (in a thread of its own: the async suite calls this inside its event loop)."""
    using = (store.sync if isinstance(store, AsyncDjangoStore) else store).using

    def rewrite() -> None:
        try:
            rows = StoredEntry.objects.using(using)
            found = rows.filter(session__session_id=session_id, entry_id=entry_id)
            assert found.update(data=json.dumps(data)) == 1
        finally:
            connections[using].close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(rewrite).result()


class CountingStore(DjangoStore):
    """The ORM store, recording the name of every protocol method called on it."""

    def __init__(self, using: str = "default") -> None:
        super().__init__(using)
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        method = super().__getattribute__(name)
        if name not in _PROTOCOL:
            return method
        calls = super().__getattribute__("calls")

        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return method(*args, **kwargs)

        return call
