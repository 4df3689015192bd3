"""The store protocol: what a back end implements; the manager holds the behaviour.

A store only persists. Every method is atomic on its own and costs one round
trip on SQLite, PostgreSQL and standalone Redis (``get_checkpoint(with_path=True)``
and ``read_path`` are each one; checkpoint and restore take two calls in all).

Conventions every implementation keeps (``agentsession.testing`` checks them):

* Ids arrive validated; user ids are opaque and must never be used raw as a
  file name or key part (hash them).
* ``now`` is the manager's clock. A session whose ``expires_at <= now`` is
  treated as absent by every method (``SessionNotFound``), may be physically
  removed at any time, and is removed by ``prune_expired``.
* Writes take ``expires_at``: the value to store after the write (the idle
  timeout renewed, capped by the deadline). Every write bumps ``revision`` by
  one and sets ``updated_at = now``.
* Entries arrive as :class:`NewEntry` with canonical JSON and digest computed;
  the store places them under the head *read inside the same atomic unit*
  (:func:`agentsession.store.place_entries` does the arithmetic), stores the
  JSON text verbatim and returns :class:`Entry` objects.
* Errors: ``SessionNotFound``, ``ConflictError``, ``LimitExceeded``,
  ``InvalidInput`` (unknown entry id), ``CheckpointNotFound``, ``StoreClosed``
  after ``close()``, and ``StoreUnavailable`` (driver error chained) when the
  back end cannot be reached -- never a driver exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .._models import (
    Checkpoint,
    Entry,
    NewEntry,
    SearchHit,
    SessionExport,
    SessionInfo,
    Unchecked,
)
from .._search import SearchQuery

__all__ = ["AsyncStore"]


def _unimplemented(store: object, method: str) -> NotImplementedError:
    # A real body rather than ``...``: a class that subclasses the protocol
    # explicitly (the bridges in ``bridge.py`` do, for the type checker) is not
    # abstract, and a third-party store missing a method says which one.
    return NotImplementedError(f"{type(store).__name__} does not implement {method}()")


@runtime_checkable
class AsyncStore(Protocol):
    """The persistence contract of a session store (see the module docstring)."""

    async def create_session(self, info: SessionInfo) -> None:
        """Insert a new session row. A live session with that id → ``ConflictError``
        (an expired one is replaced)."""
        raise _unimplemented(self, "create_session")

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        """The session row, or ``SessionNotFound``."""
        raise _unimplemented(self, "get_session")

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        """Live sessions, newest ``updated_at`` first, ties by id descending.

        ``user_id``: ``UNCHECKED`` = any owner, ``None`` = unowned only,
        a string = owned by that user only. ``agent=None`` = every agent.
        """
        raise _unimplemented(self, "list_sessions")

    async def search(
        self,
        query: SearchQuery,
        *,
        user_id: str | Unchecked | None,
        agent: str | None,
        limit: int,
        now: datetime,
    ) -> list[SearchHit]:
        """Messages of live sessions holding every word of ``query``, on any
        branch; owner and agent filters as :meth:`list_sessions`.

        At most ``limit`` hits, best first, then newest first; one hit per
        distinct message of a session (``(session, digest)``), its newest
        copy. :class:`~agentsession.store.HitCollector` ranks, dedupes and
        makes snippets; :func:`~agentsession.store.scan_search` is the whole
        search for a store without an engine. A store that cannot search
        raises ``SearchUnavailable``.
        """
        raise _unimplemented(self, "search")

    async def delete_session(
        self, session_id: str, *, expected_revision: int | None = None
    ) -> bool:
        """Erase the session with every entry and checkpoint; False if absent.

        ``expected_revision``: only if the session still has that revision
        (expired or not); else ``ConflictError`` and nothing is erased.
        """
        raise _unimplemented(self, "delete_session")

    async def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
        new_root: bool = False,
    ) -> tuple[SessionInfo, list[Entry]]:
        """Atomically: read the head, check ``expected_head`` (``ConflictError``),
        chain the entries under it, check the session's ``max_messages``
        (``LimitExceeded``, nothing written), advance head, message_count,
        revision, updated_at and expires_at. Returns the new row and entries.

        ``new_root``: chain them from a new root instead (depth and message
        count start afresh); the old path stays, a branch of its own. How a
        compaction writes its new path in one step."""
        raise _unimplemented(self, "append")

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
        """The path root → head, oldest first, and the row it was read with.

        ``before``: the path of that entry's parent instead (``InvalidInput``
        if the entry is not in the session). ``kind``: only entries of that
        kind. ``limit``: only the last ``limit`` of those. Cost must not grow
        with the history length when ``limit`` is small. ``with_data=False``:
        the caller needs ids, links and digests only; a store may return the
        entries with empty ``data`` to save decoding (checkpoint uses this).
        """
        raise _unimplemented(self, "read_path")

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        """One entry of this session, or ``InvalidInput``."""
        raise _unimplemented(self, "get_entry")

    async def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        """Move the head to ``entry_id`` (any entry of this session, else
        ``InvalidInput``) or to ``None``; message_count becomes that entry's
        message_index. ``expected_revision`` mismatch → ``ConflictError``."""
        raise _unimplemented(self, "set_head")

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        """Store a checkpoint record (no entry, head unchanged); sets
        ``last_checkpoint_at``. An entry id not in the session → ``InvalidInput``."""
        raise _unimplemented(self, "save_checkpoint")

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        """The checkpoint (``CheckpointNotFound``) and, with ``with_path``, the
        full path root → its entry, oldest first, in the same round trip.

        The path is read to be verified: a store that keeps each entry's
        canonical JSON text should hand it over as ``StoredJSON(text)``
        (``agentsession.store``), so ``restore`` hashes the stored bytes
        without decoding and re-encoding them."""
        raise _unimplemented(self, "get_checkpoint")

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        """Every checkpoint of the session, ordered by ``(created_at, id)``."""
        raise _unimplemented(self, "list_checkpoints")

    async def list_leaves(
        self, session_id: str, *, now: datetime
    ) -> tuple[SessionInfo, list[Entry]]:
        """Every entry of the session that has no child, and the row."""
        raise _unimplemented(self, "list_leaves")

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        """Shallow-merge ``metadata`` into the session's metadata, atomically.
        ``expected_revision`` mismatch → ``ConflictError``, nothing written."""
        raise _unimplemented(self, "update_session")

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        """Move the session (row, entries, checkpoints) to ``new_id`` and delete
        the old id, atomically; a taken ``new_id`` → ``ConflictError``. A
        ``user_id`` other than ``UNCHECKED`` becomes the owner in the same step."""
        raise _unimplemented(self, "rotate_id")

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        """Erase up to ``batch`` expired sessions; return how many were erased."""
        raise _unimplemented(self, "prune_expired")

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        """Everything of one session: entries ordered by ``(depth, id)`` (so
        parents come first), checkpoints by ``(created_at, id)``."""
        raise _unimplemented(self, "export_session")

    async def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        """Write an exported session as is; a taken id → ``ConflictError``.

        ``expected_revision``: replace the session with that id instead, whole
        and atomically, if it is there (expired or not: else
        ``SessionNotFound``) at that revision (else ``ConflictError``);
        nothing of it is kept but what the export holds. The caller keeps the
        agent and the owner (stores may rely on it for their indexes).

        The manager has already checked the export whole (ids, owner, JSON,
        digests, tree, head, checkpoints: ``agentsession._exports``)."""
        raise _unimplemented(self, "import_session")

    async def close(self) -> None:
        """Release connections; later calls raise ``StoreClosed``. Idempotent."""
        raise _unimplemented(self, "close")
