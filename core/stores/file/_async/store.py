"""The JSONL file store (``file:///abs/dir``): sessions as human-readable files.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Each session is ``<base>/<agent>/<session_id>.jsonl``, an append-only log of
JSON lines -- the row, every entry (its data as canonical JSON, verbatim),
head moves, checkpoints, metadata patches -- replayed when opened. Small
symlinks under ``<base>/.ids`` and ``<base>/.owners`` find a session by id and
list a user's sessions; no file is ever rewritten whole by an append. See
:mod:`agentsession.stores.file._layout` for the directory tree and
:mod:`agentsession.stores.file._format` for the lines.

Guarantees:

* One append is one ``write`` of its line(s) on an ``O_APPEND`` descriptor,
  under ``flock(LOCK_EX)``, which covers reading the head too: any number of
  threads and processes may share a directory.
  A batch (``extend``) is all or nothing.
* The store keeps each open session's replayed state and re-reads only what
  other processes appended, so an append or a read of the last messages
  costs the same at any history length.
* A crash mid-write leaves a torn last line: it is ignored when reading and
  cut off before the next write, never a reason a session cannot open.
* Durability: ``fsync=False`` (the default) returns once the line is in the
  operating system's page cache. That already survives the application
  crashing or being killed -- the test suite SIGKILLs appenders -- and other
  processes see the line at once; only an OS crash or power loss can drop
  the last writes (then the torn tail is cut off as above). It is the
  trade-off of the SQLite store's default (WAL, ``synchronous=NORMAL``), and
  an ``fdatasync`` per append costs about 5x the append itself (232-297 us
  against 41-58 us, medians in ``docs/benchmarks.md``). ``fsync=True``
  (``file:///dir?fsync=true``) syncs every write, and the directories when
  sessions are created, moved or erased. What it makes durable is the lines:
  the file's mtime, which listing sorts by, is set after the ``fdatasync``
  (which does not sync it), so after a power loss a session can list in an
  older place than its last append -- its history and ``updated_at`` are
  intact, only the listing order is stale until its next write. (Syncing the
  mtime too would need a full ``fsync`` after it on every append.)
* Directories are created 0700 and files 0600.
* Listing sorts candidates by file mtime (kept equal to ``updated_at``) and
  reads only the sessions it returns: one ``stat`` per session of the agent
  or user listed (no listing index is written by appends). ``prune`` opens
  every session. Both are O(sessions): SQLite suits 10 000s of sessions per
  user better.
* POSIX only (``fcntl.flock``, symlinks), on a local file system.

The sync store does its I/O in the calling thread (a lock serialises the
threads sharing a store object); the async store runs every call on its own
worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from agentsession._models import Checkpoint, Entry, NewEntry, SessionExport, SessionInfo, Unchecked
from agentsession.stores._blocking import AsyncRunner
from agentsession.stores.file._engine import FileEngine, guarded
from agentsession.stores.file._layout import parse_file_url

__all__ = ["AsyncFileStore"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncFileStore:
    """Sessions as JSONL files under one directory (see the module docstring).

    Args:
        path: the base directory (created 0700 on the first write).
        fsync: sync every write to disk before returning (default False).
        max_open: session files kept open, with their replayed state.

    Nothing is opened until the first call.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = False, max_open: int = 128
    ) -> None:
        self._engine = FileEngine(os.path.abspath(os.fspath(path)), fsync=fsync, max_open=max_open)
        self._runner = AsyncRunner("agentsession-file")

    @classmethod
    def from_url(cls, url: str) -> AsyncFileStore:
        """``file:///absolute/directory``, optionally ``?fsync=true``."""
        path, fsync = parse_file_url(url)
        return cls(path, fsync=fsync)

    @property
    def path(self) -> str:
        """The absolute path of the base directory."""
        return self._engine.layout.base

    def __repr__(self) -> str:
        return f"<AsyncFileStore path={self.path!r} fsync={self._engine.fsync}>"

    async def _call(self, op: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._runner.run(lambda: guarded(op, *args, **kwargs))

    async def create_session(self, info: SessionInfo) -> None:
        await self._call(self._engine.create_session, info)

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        return await self._call(self._engine.get_session, session_id, now=now)

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        return await self._call(
            self._engine.list_sessions,
            agent=agent,
            user_id=user_id,
            limit=limit,
            offset=offset,
            now=now,
        )

    async def delete_session(self, session_id: str) -> bool:
        return await self._call(self._engine.delete_session, session_id)

    async def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
    ) -> tuple[SessionInfo, list[Entry]]:
        return await self._call(
            self._engine.append,
            session_id,
            entries,
            now=now,
            expires_at=expires_at,
            expected_head=expected_head,
        )

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
        return await self._call(
            self._engine.read_path,
            session_id,
            now=now,
            before=before,
            limit=limit,
            kind=kind,
            with_data=with_data,
        )

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        return await self._call(self._engine.get_entry, session_id, entry_id, now=now)

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
            self._engine.set_head,
            session_id,
            entry_id,
            now=now,
            expires_at=expires_at,
            expected_revision=expected_revision,
        )

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        return await self._call(
            self._engine.save_checkpoint, checkpoint, now=now, expires_at=expires_at
        )

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        return await self._call(
            self._engine.get_checkpoint, session_id, checkpoint_id, now=now, with_path=with_path
        )

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        return await self._call(self._engine.list_checkpoints, session_id, now=now)

    async def list_leaves(
        self, session_id: str, *, now: datetime
    ) -> tuple[SessionInfo, list[Entry]]:
        return await self._call(self._engine.list_leaves, session_id, now=now)

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        return await self._call(
            self._engine.update_session,
            session_id,
            metadata=metadata,
            now=now,
            expires_at=expires_at,
        )

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        return await self._call(
            self._engine.rotate_id,
            session_id,
            new_id,
            user_id=user_id,
            now=now,
            expires_at=expires_at,
        )

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        return await self._call(self._engine.prune_expired, now=now, batch=batch)

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        return await self._call(self._engine.export_session, session_id, now=now)

    async def import_session(self, export: SessionExport) -> None:
        await self._call(self._engine.import_session, export)

    async def close(self) -> None:
        """Close every open file; later calls raise ``StoreClosed``. Idempotent."""
        await self._runner.close(self._engine.close)
