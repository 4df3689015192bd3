"""The SQLite store (``sqlite:///relative.db``, ``sqlite:////absolute.db``): the default.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

WAL journal, one transaction per store call (``_ops``), any number of threads
and processes on one file. The sync store runs each call in the calling
thread (a lock serialises the threads sharing a store object); the async store
runs each on its own worker thread, so the event loop never waits on the disk.
Both are the one bridge (``agentsession._async.bridge``) over the same
transactions. Guarantees, durability settings and costs: ``docs/stores/sqlite.md``.
"""

from __future__ import annotations

import functools
import os

from agentsession._async.bridge import AsyncBridge
from agentsession.stores._blocking import AsyncRunner
from agentsession.stores.sqlite import _ops as ops
from agentsession.stores.sqlite._db import Database, is_quick, parse_sqlite_url

__all__ = ["AsyncSQLiteStore"]


class AsyncSQLiteStore(AsyncBridge):
    """Sessions in one SQLite file (``docs/stores/sqlite.md`` for the guarantees).

    Args:
        path: the database file (created with its directory when missing);
            ``":memory:"`` for a private in-memory database.
        synchronous: ``"NORMAL"`` (default), ``"FULL"``, ``"EXTRA"`` or ``"OFF"``.
        busy_timeout: seconds a write waits for another writer's lock.
        search: keep the full-text search index (default). ``False`` drops
            it: appends skip it and ``search`` raises ``SearchUnavailable``;
            every store opening the file should agree (``docs/design.md``,
            "Search").

    Nothing is opened until the first call.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
        search: bool = True,
    ) -> None:
        self._db = db = Database(
            path, synchronous=synchronous, busy_timeout=busy_timeout, search=search
        )
        runner = AsyncRunner("agentsession-sqlite", db.attempt, db.group)
        db.defer = runner.defer
        super().__init__(
            lambda name: functools.partial(db.call, getattr(ops, name)),
            runner,
            db.close,
            quick=(is_quick(db.synchronous), runner),
        )

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db``, with optional
        ``?synchronous=FULL&busy_timeout=30&search=off``."""
        path, options = parse_sqlite_url(url)
        return cls(path, **options)

    @property
    def path(self) -> str:
        """The absolute path of the database file (or ``":memory:"``)."""
        return self._db.path

    def __repr__(self) -> str:
        return f"<AsyncSQLiteStore path={self._db.path!r} synchronous={self._db.synchronous}>"
