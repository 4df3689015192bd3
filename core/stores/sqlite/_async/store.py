"""The SQLite store (``sqlite:///relative.db``, ``sqlite:////absolute.db``): the default.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Durability and concurrency:

* WAL journal, one transaction per store call; writes take ``BEGIN
  IMMEDIATE`` so an append reads the head and writes under one lock. Any
  number of threads and processes may share one file: writers queue for up
  to ``busy_timeout`` seconds (default 10) instead of failing with
  "database is locked"; readers never wait for writers.
* ``synchronous=NORMAL`` by default: in WAL mode a committed append survives
  a crash or kill of the application (the test suite SIGKILLs appenders),
  but a power loss or OS crash may drop the last transactions -- never
  corrupt the file. ``synchronous="FULL"`` (or ``?synchronous=FULL`` in the
  URL) syncs the WAL on every commit and survives power loss too, at the
  price of an fsync per append; ``"OFF"`` leaves even that to the OS.
* Entry data is stored as its canonical JSON text, verbatim. A path read
  follows the tree from the head and stops once ``limit`` entries are
  collected, so the last 100 messages cost the same at any history length.

The sync store calls SQLite in the calling thread (a lock serialises the
threads sharing a store object); the async store runs every call on its own
worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from agentsession._models import Checkpoint, Entry, NewEntry, SessionExport, SessionInfo, Unchecked
from agentsession.stores._blocking import AsyncRunner
from agentsession.stores.sqlite import _ops as ops
from agentsession.stores.sqlite._db import Database, parse_sqlite_url

__all__ = ["AsyncSQLiteStore"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncSQLiteStore:
    """Sessions in one SQLite file (see the module docstring for guarantees).

    Args:
        path: the database file (created with its directory when missing);
            ``":memory:"`` for a private in-memory database.
        synchronous: ``"NORMAL"`` (default), ``"FULL"``, ``"EXTRA"`` or ``"OFF"``.
        busy_timeout: seconds a write waits for another writer's lock.

    Nothing is opened until the first call.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
    ) -> None:
        self._db = Database(path, synchronous=synchronous, busy_timeout=busy_timeout)
        self._runner = AsyncRunner("agentsession-sqlite")

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db``, with optional
        ``?synchronous=FULL&busy_timeout=30``."""
        path, options = parse_sqlite_url(url)
        return cls(path, **options)

    @property
    def path(self) -> str:
        """The absolute path of the database file (or ``":memory:"``)."""
        return self._db.path

    def __repr__(self) -> str:
        return f"<AsyncSQLiteStore path={self._db.path!r} synchronous={self._db.synchronous}>"

    async def _call(
        self,
        op: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        db = self._db
        return await self._runner.run(lambda: db.call(op, *args, **kwargs))

    async def create_session(self, info: SessionInfo) -> None:
        await self._call(ops.create_session, info)

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        return await self._call(ops.get_session, session_id, now)

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        return await self._call(ops.list_sessions, agent, user_id, limit, offset, now)

    async def delete_session(self, session_id: str) -> bool:
        return await self._call(ops.delete_session, session_id)

    async def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
    ) -> tuple[SessionInfo, list[Entry]]:
        return await self._call(ops.append, session_id, entries, now, expires_at, expected_head)

    async def read_path(
        self,
        session_id: str,
        *,
        now: datetime,
        before: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
        with_data: bool = True,
    ) -> tuple[SessionInfo, list[Entry]]:
        return await self._call(ops.read_path, session_id, now, before, limit, kind, with_data)

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        return await self._call(ops.get_entry, session_id, entry_id, now)

    async def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        return await self._call(
            ops.set_head, session_id, entry_id, now, expires_at, expected_revision
        )

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        return await self._call(ops.save_checkpoint, checkpoint, now, expires_at)

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        return await self._call(ops.get_checkpoint, session_id, checkpoint_id, now, with_path)

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        return await self._call(ops.list_checkpoints, session_id, now)

    async def list_leaves(
        self, session_id: str, *, now: datetime
    ) -> tuple[SessionInfo, list[Entry]]:
        return await self._call(ops.list_leaves, session_id, now)

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        return await self._call(ops.update_session, session_id, metadata, now, expires_at)

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        return await self._call(ops.rotate_id, session_id, new_id, user_id, now, expires_at)

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        return await self._call(ops.prune_expired, now, batch)

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        return await self._call(ops.export_session, session_id, now)

    async def import_session(self, export: SessionExport) -> None:
        await self._call(ops.import_session, export)

    async def close(self) -> None:
        """Close the connection; later calls raise ``StoreClosed``. Idempotent."""
        await self._runner.close(self._db.close)
