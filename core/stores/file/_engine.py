"""The blocking half of the JSONL file store: every store call, as a function.

:class:`FileEngine` implements the store protocol with plain blocking calls;
``FileStore`` calls it directly and ``AsyncFileStore`` on a worker thread.

* Per-session calls go through :class:`~agentsession.stores.file._handles.Handles`:
  the session file open, its log replayed and current, and for writes
  ``flock(LOCK_EX)`` held from reading the head to the ``write`` of the line.
* Id-level calls (create, delete, rotate, import, prune) also hold
  ``flock`` on ``<base>/.lock``, so an id is claimed, replaced or erased by
  one process at a time. A new file is written whole before its ``.ids``
  link publishes it; erasing removes that link first.
* Every write records itself in the listing journals
  (:mod:`agentsession.stores.file._recent`) before it changes the session
  file, and listing reads them newest first; a long session opens from its
  snapshot (``docs/design.md``, "File store indexes").
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from agentsession._canonical import canonical_json, chain_checksum, load_json_object
from agentsession._exceptions import (
    AgentSessionError,
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
    map_exceptions,
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
from agentsession.stores.file._format import (
    NO_DATA,
    checkpoint_line,
    entry_lines,
    head_line,
    metadata_line,
    owner_key,
    session_line,
    time_ns,
)
from agentsession.stores.file._handles import Handle, Handles, Snapshots, set_mtime, write_all
from agentsession.stores.file._layout import FILE_MODE, Layout, unlink_quietly
from agentsession.stores.file._log import SessionLog, Stale
from agentsession.stores.file._recent import Damaged, Recent

__all__ = ["FileEngine", "guarded"]

P = ParamSpec("P")
T = TypeVar("T")

_OPEN = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
_ERRORS: dict[type[BaseException], type[AgentSessionError]] = {OSError: StoreUnavailable}
_RETRIES = 8


def guarded(op: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an engine call with OS errors mapped into the agentsession tree.

    A call that found a session's snapshot damaged (before it wrote anything)
    runs again: that session's file is replayed whole this time."""
    with map_exceptions(_ERRORS):
        for _ in range(_RETRIES):
            try:
                return op(*args, **kwargs)
            except Stale:
                continue
        raise IntegrityError("session snapshots keep turning out damaged")


def _order(info: SessionInfo) -> tuple[int, str]:
    return time_ns(info.updated_at), info.id


class FileEngine(ScanSearch):
    """Every store call on one base directory, as blocking functions."""

    def __init__(self, base: str, *, fsync: bool = False, max_open: int = 128) -> None:
        self.layout = Layout(base, fsync=fsync)
        self.fsync = fsync
        self.snapshots = Snapshots(self.layout)
        self.recent = Recent(self.layout)
        self._files = Handles(self._open_by_id, max_open, self.snapshots)
        self._id_lock = threading.Lock()  # id-level calls within this process
        self._lock_fd = -1

    def _open_by_id(self, session_id: str) -> int:
        try:
            return os.open(self.layout.id_link(session_id), _OPEN)
        except FileNotFoundError:
            raise SessionNotFound() from None

    @staticmethod
    def _live(handle: Handle, now: datetime) -> SessionInfo:
        info = handle.log.info
        if is_expired(info, now):
            raise SessionNotFound()
        # The log is this process's cache of the file: callers get copies.
        return copy_info(info)

    # -- id-level operations ------------------------------------------------------

    @contextmanager
    def _id_ops(self) -> Iterator[None]:
        with self._id_lock:
            if self._files.closed:
                raise StoreClosed("the store is closed")
            if self._lock_fd < 0:
                self.layout.setup()
                self._lock_fd = os.open(
                    self.layout.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _claim(self, session_id: str, now: datetime) -> None:
        """Make ``session_id`` free: ConflictError if live, erase it if expired."""
        try:
            with self._files.session(session_id, write=True) as handle:
                if not is_expired(handle.log.info, now):
                    raise ConflictError("a session with this id already exists")
                self._erase(handle)
        except SessionNotFound:
            unlink_quietly(self.layout.id_link(session_id))  # a link to nothing

    def _erase(self, handle: Handle) -> None:
        info = handle.log.info
        self.layout.unlink(info.agent, info.id, info.user_id)
        self._files.forget(handle)

    def _install(
        self, info: SessionInfo, lines: Sequence[bytes], replacing: Handle | None = None
    ) -> None:
        """Write a session file whole, then publish it.

        ``replacing``: the session's open file, which the new one is written
        beside and renamed over (so the path holds the old file or the new
        one, never neither). Other processes' handles see the old file
        unlinked and open the path again; the links name the path, and the
        snapshot names the old inode."""
        payload = b"".join(lines)
        path = self.layout.session_file(info.agent, info.id)
        if replacing is None:
            written, fd = path, self.layout.create_file(info.agent, info.id)
        else:
            written = path + ".replacing"
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            fd = os.open(written, flags, FILE_MODE)
        try:
            write_all(fd, payload)
            if self.fsync:
                os.fsync(fd)
            set_mtime(fd, info.updated_at)
            self.recent.note(info.agent, info.user_id, info.id, info.updated_at)
            if replacing is None:
                self.layout.link(info.agent, info.id, info.user_id)
            else:
                os.replace(written, path)
                self.layout.sync_dir(os.path.dirname(path))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):  # unpublished: a leftover at worst
                os.unlink(written)
            raise
        if replacing is not None:
            unlink_quietly(self.layout.snapshot_file(info.id))
            self._files.forget(replacing)
        self._files.adopt(Handle.written(info.id, fd, payload))

    def _write(self, handle: Handle, lines: Sequence[bytes], now: datetime) -> list[int]:
        """Append a mutation's lines, recorded in the listing journals first."""
        info = handle.log.info
        self.recent.note(info.agent, info.user_id, info.id, now)
        return handle.write(lines, now, fsync=self.fsync)

    def _whole_file(
        self,
        info: SessionInfo,
        entries: Sequence[Entry],
        checkpoints: Sequence[Checkpoint],
    ) -> list[bytes]:
        """A new file holding everything at once (import, rotation), every
        entry with its path checksum computed afresh."""
        entries = with_checksums(entries)
        texts = [canonical_json(dict(e.data)) for e in entries]
        return [
            session_line(info, more=True),
            *entry_lines(entries, texts, at=None, expires_at=None),
            *(checkpoint_line(c, at=None, expires_at=None) for c in checkpoints),
            session_line(info),
        ]

    # -- the store calls -------------------------------------------------------------

    def create_session(self, info: SessionInfo) -> None:
        with self._id_ops():
            self._claim(info.id, info.created_at)
            self._install(info, [session_line(info)])

    def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        with self._files.session(session_id, write=False) as handle:
            return self._live(handle, now)

    def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        if self._files.closed:
            raise StoreClosed("the store is closed")
        if limit == 0:
            return []
        owner = None if user_id is UNCHECKED else owner_key(user_id)
        for _ in range(3):
            try:
                with contextlib.closing(self.recent.newest(agent, owner)) as candidates:
                    return self._rows(candidates, agent, user_id, offset + limit, now)[offset:]
            except Damaged as damage:
                try:
                    self.recent.rebuild(damage.journal, damage.inode)
                except OSError:
                    break
            except OSError:
                break  # (a read-only directory cannot have its journals made)
        # Without the journals: every session of the listing, ``stat``ed.
        scan = sorted(self.layout.candidates(agent, owner), reverse=True)
        return self._rows(iter(scan), agent, user_id, offset + limit, now)[offset:]

    def _rows(
        self,
        candidates: Iterator[tuple[int, str]],
        agent: str | None,
        user_id: str | Unchecked | None,
        want: int,
        now: datetime,
    ) -> list[SessionInfo]:
        """The first ``want`` live sessions of ``candidates``, which come
        newest first: ``(when, id)``, ``when`` no lower than the session's
        ``updated_at`` (a crash's leftover makes one too high: the row read
        decides). The scan without journals takes the file's mtime, which a
        write killed before it set it may leave low."""
        rows: list[SessionInfo] = []
        checked: set[str] = set()  # a crash's leftover link may name a session twice
        for when, session_id in candidates:
            if len(rows) >= want and (when, session_id) < _order(rows[-1]):
                break  # every remaining candidate is older
            if session_id in checked:
                continue
            checked.add(session_id)
            info = self._peek(session_id)
            if (
                info is None
                or is_expired(info, now)
                or (agent is not None and info.agent != agent)
                or (user_id is not UNCHECKED and info.user_id != user_id)
            ):
                continue
            rows.append(info)
            rows.sort(key=_order, reverse=True)
            del rows[want:]
        return rows

    def _peek(self, session_id: str) -> SessionInfo | None:
        try:
            with self._files.session(session_id, write=False) as handle:
                info = handle.log.info
        except (SessionNotFound, IntegrityError):
            return None  # erased meanwhile, a leftover, or damaged (get() says which)
        return copy_info(info) if info.id == session_id else None

    def delete_session(self, session_id: str, *, expected_revision: int | None = None) -> bool:
        with self._id_ops():
            try:
                with self._files.session(session_id, write=True) as handle:
                    check_revision(handle.log.info.revision, expected_revision)
                    self._erase(handle)
                    return True
            except SessionNotFound:
                unlink_quietly(self.layout.id_link(session_id))  # a link to nothing
                return False

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
        with self._files.session(session_id, write=True) as handle:
            log = handle.log
            info = self._live(handle, now)
            check_expected_head(info.head, expected_head)
            head = None if new_root else info.head
            parent = log.entry_or_fail(head) if head is not None else None
            placed = place_entries(
                entries,
                parent_id=head,
                parent_depth=parent.depth if parent else 0,
                message_count=info.message_count if head is not None else 0,
                max_messages=info.max_messages,
                parent_checksum=None if parent is None else _checksum_of(log, parent),
            )
            if not placed:
                return info, []
            texts = [e.data_json for e in entries]
            lines = entry_lines(placed, texts, at=now, expires_at=expires_at)
            offsets = self._write(handle, lines, now)
            for entry, offset, line in zip(placed, offsets, lines, strict=True):
                log.add_entry(carrying(entry, NO_DATA), offset, len(line))
            last = placed[-1]
            info = copy_info(
                log.bump(now, expires_at, head=last.id, message_count=last.message_index)
            )
        # fresh copies, as a read would give: the caller's objects are not aliased
        return info, [carrying(e, load_json_object(t)) for e, t in zip(placed, texts, strict=True)]

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
        with self._files.session(session_id, write=False) as handle:
            info = self._live(handle, now)
            cursor = info.head if before is None else handle.log.entry(before).parent_id
            path = handle.log.walk(cursor, limit, kind)
            if not with_data:
                return info, [carrying(e, NO_DATA) for e in path]
            return info, handle.with_data(path)

    def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        with self._files.session(session_id, write=False) as handle:
            self._live(handle, now)
            return handle.with_data([handle.log.entry(entry_id)])[0]

    def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._files.session(session_id, write=True) as handle:
            info = self._live(handle, now)
            if expected_revision is not None and info.revision != expected_revision:
                raise ConflictError("the session changed since it was read")
            if entry_id is not None:
                handle.log.entry(entry_id)
            self._write(handle, [head_line(entry_id, at=now, expires_at=expires_at)], now)
            handle.log.move_head(entry_id, now, expires_at)
            return copy_info(handle.log.info)

    def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        with self._files.session(checkpoint.session_id, write=True) as handle:
            self._live(handle, now)
            if checkpoint.entry_id is not None:
                handle.log.entry(checkpoint.entry_id)
            line = checkpoint_line(checkpoint, at=now, expires_at=expires_at)
            self._write(handle, [line], now)
            handle.log.add_checkpoint(copy_checkpoint(checkpoint))
            return copy_info(handle.log.bump(now, expires_at, last_checkpoint_at=now))

    def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        with self._files.session(session_id, write=False) as handle:
            self._live(handle, now)
            checkpoint = handle.log.checkpoints.get(checkpoint_id)
            if checkpoint is None:
                raise CheckpointNotFound("unknown checkpoint for this session")
            if not with_path:
                return copy_checkpoint(checkpoint), []
            path = handle.log.walk(checkpoint.entry_id)
            # Read to be verified: the data stays the text on each line.
            return copy_checkpoint(checkpoint), handle.with_data(path, lazy=True)

    def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        with self._files.session(session_id, write=False) as handle:
            self._live(handle, now)
            points = sorted(handle.log.checkpoints.values(), key=lambda c: (c.created_at, c.id))
            return [copy_checkpoint(c) for c in points]

    def list_leaves(self, session_id: str, *, now: datetime) -> tuple[SessionInfo, list[Entry]]:
        with self._files.session(session_id, write=False) as handle:
            info = self._live(handle, now)
            leaves = [handle.log.entry_or_fail(i) for i in handle.log.leaves]
            return info, handle.with_data(leaves)

    def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._files.session(session_id, write=True) as handle:
            check_revision(self._live(handle, now).revision, expected_revision)
            self._write(handle, [metadata_line(metadata, at=now, expires_at=expires_at)], now)
            handle.log.merge_metadata(json_copy(dict(metadata)), now, expires_at)
            return copy_info(handle.log.info)

    def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        with self._id_ops(), self._files.session(session_id, write=True) as handle:
            info = self._live(handle, now)
            if new_id == session_id:
                raise ConflictError("a session with this id already exists")
            self._claim(new_id, now)
            owner = info.user_id if user_id is UNCHECKED else user_id
            moved = evolve(
                info,
                id=new_id,
                user_id=owner,
                revision=info.revision + 1,
                updated_at=now,
                expires_at=expires_at,
            )
            log = handle.log
            entries = handle.with_data(log.everything())
            checkpoints = [
                dataclasses.replace(c, session_id=new_id) for c in log.checkpoints.values()
            ]
            self._install(moved, self._whole_file(moved, entries, checkpoints))
            self._erase(handle)
            return moved

    def prune_expired(self, *, now: datetime, batch: int) -> int:
        erased = 0
        with self._id_ops():
            for session_id in sorted(os.listdir(self.layout.ids)):
                if erased >= batch:
                    break
                try:
                    with self._files.session(session_id, write=True) as handle:
                        if is_expired(handle.log.info, now):
                            self._erase(handle)
                            erased += 1
                except SessionNotFound:
                    unlink_quietly(self.layout.id_link(session_id))  # a link to nothing
                except IntegrityError:
                    continue  # damaged: left for a human to look at
        return erased

    def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        with self._files.session(session_id, write=False) as handle:
            info = self._live(handle, now)
            log = handle.log
            ordered = sorted(log.everything(), key=lambda e: (e.depth, e.id))
            points = sorted(log.checkpoints.values(), key=lambda c: (c.created_at, c.id))
            copies = tuple(copy_checkpoint(c) for c in points)
            return SessionExport(info, tuple(handle.with_data(ordered)), copies)

    def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        info = export.session
        lines = self._whole_file(info, export.entries, export.checkpoints)
        with self._id_ops():
            if expected_revision is None:
                self._claim(info.id, info.updated_at)
                self._install(info, lines)
                return
            with self._files.session(info.id, write=True) as handle:
                check_revision(handle.log.info.revision, expected_revision)
                self._install(info, lines, replacing=handle)

    def close(self) -> None:
        self._files.close()
        self.recent.close()
        with self._id_lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


def _checksum_of(log: SessionLog, entry: Entry) -> str:
    """``entry``'s path checksum: its own, or for one whose line was written
    before the store kept them (and that no replay computed), from its path,
    read once: the entries appended under it then carry theirs."""
    if entry.checksum is not None:
        return entry.checksum
    return chain_checksum(e.digest for e in log.walk(entry.id))
