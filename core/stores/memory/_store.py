"""The in-process memory store (``memory://``): thread-safe, nothing persisted.

It is the reference implementation of the store protocol: every other store
must behave exactly like it (``agentsession.testing`` runs against all of them).
Like a store with a database behind it, it never shares an object with its
callers: entry data is kept as canonical JSON text and decoded on read, and
rows and checkpoints are copied on the way in and on the way out (metadata
deeply), so changing a record the store returned, or one handed to it,
changes nothing stored.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from agentsession._async.bridge import AsyncBridge
from agentsession._canonical import StoredJSON, canonical_json
from agentsession._exceptions import (
    CheckpointNotFound,
    ConflictError,
    InvalidInput,
    SessionNotFound,
    StoreClosed,
)
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    Unchecked,
    carrying,
    copy_checkpoint,
    copy_info,
    evolve,
    json_copy,
)
from agentsession._rules import (
    check_expected_head,
    check_revision,
    is_expired,
    place_entries,
    with_checksums,
)
from agentsession._sync.scan import ScanSearch

__all__ = ["AsyncMemoryStore", "MemoryStore"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclasses.dataclass
class _Stored:
    """One session; every record in it is private to the store.

    Stored entries carry no data (it is the JSON text beside them).
    """

    info: SessionInfo
    entries: dict[str, tuple[Entry, str]] = dataclasses.field(default_factory=dict)
    parents: set[str] = dataclasses.field(default_factory=set)
    checkpoints: dict[str, Checkpoint] = dataclasses.field(default_factory=dict)

    def add(self, entry: Entry, text: str) -> None:
        self.entries[entry.id] = (carrying(entry, {}), text)
        if entry.parent_id is not None:
            self.parents.add(entry.parent_id)

    def entry(self, entry_id: str, with_data: bool = True, lazy: bool = False) -> Entry:
        """A fresh copy of one entry (``InvalidInput`` if not in this session);
        ``lazy``: its data as the stored text, decoded on first use."""
        try:
            entry, text = self.entries[entry_id]
        except KeyError:
            raise InvalidInput("unknown entry id for this session") from None
        if lazy:
            return carrying(entry, StoredJSON(text))
        return carrying(entry, json.loads(text) if with_data else {})

    def points(self) -> list[Checkpoint]:
        points = sorted(self.checkpoints.values(), key=lambda c: (c.created_at, c.id))
        return [copy_checkpoint(c) for c in points]


def _bump(
    info: SessionInfo, now: datetime, expires_at: datetime | None, **changes: Any
) -> SessionInfo:
    return evolve(
        info, revision=info.revision + 1, updated_at=now, expires_at=expires_at, **changes
    )


def _check_url(url: str) -> None:
    """Refuse anything after ``memory://``: a name, path or option would read
    as a store that other opens share, or a setting, and there is none."""
    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput("a memory store URL is memory:// alone: no name, path or options")


class MemoryStore(ScanSearch):
    """A thread-safe store that keeps everything in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sessions: dict[str, _Stored] = {}
        # The same sessions by owner: a user's listing looks at theirs only.
        self._owned: dict[str | None, dict[str, _Stored]] = {}
        # Every (updated_at, id) a session has had, in that order: a listing
        # of all sessions walks it from the newest end and stops once it has
        # its page. A pair is stale once its session moved on (or left);
        # the list is rebuilt when stale pairs outnumber live ones.
        self._recent: list[tuple[datetime, str]] = []
        self._closed = False

    def _put(self, stored: _Stored) -> None:
        self._drop(stored.info.id)
        self._sessions[stored.info.id] = stored
        self._owned.setdefault(stored.info.user_id, {})[stored.info.id] = stored
        self._touch(stored.info)

    def _bump(
        self, stored: _Stored, now: datetime, expires_at: datetime | None, **changes: Any
    ) -> SessionInfo:
        info = stored.info = _bump(stored.info, now, expires_at, **changes)
        self._touch(info)
        return info

    def _touch(self, info: SessionInfo) -> None:
        recent, key = self._recent, (info.updated_at, info.id)
        if not recent or key >= recent[-1]:
            recent.append(key)  # the usual case: the clock moves forward
        else:
            bisect.insort(recent, key)
        if len(recent) > 2 * len(self._sessions) + 1024:
            self._recent = sorted((s.info.updated_at, i) for i, s in self._sessions.items())

    def _newest(self, want: int, keep: Callable[[SessionInfo], bool]) -> list[SessionInfo]:
        """The ``want`` newest sessions ``keep`` accepts, newest first."""
        sessions = self._sessions
        seen: set[str] = set()
        found: list[SessionInfo] = []
        if want <= 0:
            return found
        for at, session_id in reversed(self._recent):
            stored = sessions.get(session_id)
            if stored is None or stored.info.updated_at != at or session_id in seen:
                continue  # stale: the session moved on, or left
            seen.add(session_id)
            if keep(stored.info):
                found.append(stored.info)
                if len(found) == want:
                    break
        return found

    def _drop(self, session_id: str) -> bool:
        stored = self._sessions.pop(session_id, None)
        if stored is None:
            return False
        owned = self._owned[stored.info.user_id]
        del owned[session_id]
        if not owned:
            del self._owned[stored.info.user_id]
        return True

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """A new, empty store for ``memory://`` (each open is its own store)."""
        _check_url(url)
        return cls()

    def _live(self, session_id: str, now: datetime) -> _Stored:
        if self._closed:
            raise StoreClosed("the store is closed")
        stored = self._sessions.get(session_id)
        if stored is None or is_expired(stored.info, now):
            raise SessionNotFound()
        return stored

    def _open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    def create_session(self, info: SessionInfo) -> None:
        with self._lock:
            self._open()
            existing = self._sessions.get(info.id)
            if existing is not None and not is_expired(existing.info, info.created_at):
                raise ConflictError("a session with this id already exists")
            self._put(_Stored(info=copy_info(info)))

    def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        with self._lock:
            return copy_info(self._live(session_id, now).info)

    def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        with self._lock:
            self._open()

            def keep(info: SessionInfo) -> bool:
                return not is_expired(info, now) and (agent is None or info.agent == agent)

            if user_id is UNCHECKED:
                top = self._newest(offset + limit, keep)
            else:
                # One owner's sessions are few: the newest offset + limit of
                # them, without sorting (or copying) the rest.
                rows = (s.info for s in self._owned.get(user_id, {}).values() if keep(s.info))
                top = heapq.nlargest(offset + limit, rows, key=lambda i: (i.updated_at, i.id))
            return [copy_info(info) for info in top[offset:]]

    def delete_session(self, session_id: str, *, expected_revision: int | None = None) -> bool:
        with self._lock:
            self._open()
            stored = self._sessions.get(session_id)
            if stored is not None:
                check_revision(stored.info.revision, expected_revision)
            return self._drop(session_id)

    def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
        new_root: bool = False,
    ) -> tuple[SessionInfo, list[Entry]]:
        with self._lock:
            stored = self._live(session_id, now)
            info = stored.info
            check_expected_head(info.head, expected_head)
            head = None if new_root else info.head
            parent = stored.entries[head][0] if head is not None else None
            placed = place_entries(
                entries,
                parent_id=head,
                parent_depth=parent.depth if parent else 0,
                message_count=info.message_count if head is not None else 0,
                max_messages=info.max_messages,
                parent_checksum=parent.checksum if parent else None,
            )
            for entry, new in zip(placed, entries, strict=True):
                stored.add(entry, new.data_json)
            if placed:
                self._bump(
                    stored,
                    now,
                    expires_at,
                    head=placed[-1].id,
                    message_count=placed[-1].message_index,
                )
            # ``placed`` is the caller's own: the store keeps private copies.
            return copy_info(stored.info), placed

    def read_path(
        self,
        session_id: str,
        *,
        now: datetime,
        before: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
        with_data: bool = True,
    ) -> tuple[SessionInfo, list[Entry]]:
        with self._lock:
            stored = self._live(session_id, now)
            cursor = stored.info.head if before is None else stored.entry(before).parent_id
            picked: list[tuple[Entry, str]] = []
            while cursor is not None and (limit is None or len(picked) < limit):
                record = stored.entries[cursor]
                if kind is None or record[0].kind == kind:
                    picked.append(record)
                cursor = record[0].parent_id
            info = copy_info(stored.info)
        picked.reverse()
        # The texts are this store's own canonical JSON: one decode for the page.
        datas: list[Any] = (
            json.loads("[" + ",".join([text for _, text in picked]) + "]")
            if with_data and picked
            else [{} for _ in picked]
        )
        pairs = zip(picked, datas, strict=True)
        return info, [carrying(entry, data) for (entry, _), data in pairs]

    def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        with self._lock:
            return self._live(session_id, now).entry(entry_id)

    def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._lock:
            stored = self._live(session_id, now)
            check_revision(stored.info.revision, expected_revision)
            count = 0 if entry_id is None else stored.entry(entry_id, False).message_index
            return copy_info(
                self._bump(stored, now, expires_at, head=entry_id, message_count=count)
            )

    def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        with self._lock:
            stored = self._live(checkpoint.session_id, now)
            if checkpoint.entry_id is not None:
                stored.entry(checkpoint.entry_id, False)
            stored.checkpoints[checkpoint.id] = copy_checkpoint(checkpoint)
            return copy_info(self._bump(stored, now, expires_at, last_checkpoint_at=now))

    def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        with self._lock:
            stored = self._live(session_id, now)
            checkpoint = stored.checkpoints.get(checkpoint_id)
            if checkpoint is None:
                raise CheckpointNotFound("unknown checkpoint for this session")
            path: list[Entry] = []
            cursor = checkpoint.entry_id if with_path else None
            while cursor is not None:
                entry = stored.entry(cursor, lazy=True)  # verified from its text
                path.append(entry)
                cursor = entry.parent_id
            path.reverse()
            return copy_checkpoint(checkpoint), path

    def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        with self._lock:
            return self._live(session_id, now).points()

    def list_leaves(self, session_id: str, *, now: datetime) -> tuple[SessionInfo, list[Entry]]:
        with self._lock:
            stored = self._live(session_id, now)
            leaves = [stored.entry(i) for i in stored.entries if i not in stored.parents]
            return copy_info(stored.info), leaves

    def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._lock:
            stored = self._live(session_id, now)
            check_revision(stored.info.revision, expected_revision)
            merged = {**stored.info.metadata, **json_copy(dict(metadata))}
            return copy_info(self._bump(stored, now, expires_at, metadata=merged))

    def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        with self._lock:
            stored = self._live(session_id, now)
            taken = self._sessions.get(new_id)
            if taken is not None and not is_expired(taken.info, now):
                raise ConflictError("a session with this id already exists")
            owner = stored.info.user_id if user_id is UNCHECKED else user_id
            self._drop(session_id)
            stored.info = _bump(stored.info, now, expires_at, id=new_id, user_id=owner)
            stored.checkpoints = {
                k: copy_checkpoint(c, session_id=new_id) for k, c in stored.checkpoints.items()
            }
            self._put(stored)
            return copy_info(stored.info)

    def prune_expired(self, *, now: datetime, batch: int) -> int:
        with self._lock:
            self._open()
            expired = [k for k, s in self._sessions.items() if is_expired(s.info, now)][:batch]
            for key in expired:
                self._drop(key)
            return len(expired)

    def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        with self._lock:
            stored = self._live(session_id, now)
            entries = sorted(
                (stored.entry(i) for i in stored.entries), key=lambda e: (e.depth, e.id)
            )
            return SessionExport(copy_info(stored.info), tuple(entries), tuple(stored.points()))

    def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        info = export.session
        with self._lock:
            self._open()
            existing = self._sessions.get(info.id)
            if expected_revision is not None:
                if existing is None:
                    raise SessionNotFound()
                check_revision(existing.info.revision, expected_revision)
                self._drop(info.id)
            elif existing is not None and not is_expired(existing.info, info.updated_at):
                raise ConflictError("a session with this id already exists")
            stored = _Stored(info=copy_info(info))
            for entry in with_checksums(export.entries):
                stored.add(entry, canonical_json(dict(entry.data)))
            stored.checkpoints = {c.id: copy_checkpoint(c) for c in export.checkpoints}
            self._put(stored)

    def close(self) -> None:
        self._closed = True

    # Test support: alter stored data behind the library's back.
    def _tamper(self, session_id: str, entry_id: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            entry, _ = self._sessions[session_id].entries[entry_id]
            self._sessions[session_id].entries[entry_id] = (entry, json.dumps(dict(data)))


class _Inline:
    """Runs the memory store's calls right away: they never wait on I/O."""

    async def run(self, fn: Callable[[], T]) -> T:
        return fn()

    async def close(self, fn: Callable[[], None]) -> None:
        fn()


class AsyncMemoryStore(AsyncBridge):
    """The async face of :class:`MemoryStore` (no I/O, so it never awaits)."""

    def __init__(self, sync: MemoryStore | None = None) -> None:
        self.sync = store = sync if sync is not None else MemoryStore()
        super().__init__(lambda name: getattr(store, name), _Inline(), store.close)

    @classmethod
    def from_url(cls, url: str) -> AsyncMemoryStore:
        """A new, empty store for ``memory://`` (each open is its own store)."""
        _check_url(url)
        return cls()

    def _tamper(self, session_id: str, entry_id: str, data: Mapping[str, Any]) -> None:
        self.sync._tamper(session_id, entry_id, data)
