"""The blocking half of the JSONL file store: descriptors, locks, the cache.

:class:`FileEngine` implements every store call as a plain blocking function;
``FileStore`` calls it directly and ``AsyncFileStore`` on a worker thread.

* Each session file is opened once (``O_APPEND``) and kept in a bounded LRU
  with its replayed :class:`SessionLog`. Before using it, one ``fstat``:
  same size as last seen -> the log is current; larger -> only the bytes
  another process appended are read and replayed; no link left -> the
  session was erased or rotated, so it is opened again by id.
* Writes hold ``flock(LOCK_EX)`` on the session file from reading the head to
  the ``write`` of their line; a reader that finds the file changed replays
  the new bytes under ``LOCK_SH``. ``flock`` excludes other processes *and*
  other descriptors of this process; a per-file thread lock orders the
  threads sharing one descriptor. Id-level calls (create, delete, rotate,
  import, prune) also hold ``<base>/.lock``.
* Before writing, a tail that is not committed (a crash cut a write short) is
  truncated away, so a torn line never outlives the next write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from ._canonical import canonical_json, load_json_object
from ._exceptions import (
    AgentSessionError,
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
    map_exceptions,
)
from ._file_format import (
    NO_DATA,
    checkpoint_line,
    entry_lines,
    head_line,
    metadata_line,
    owner_key,
    session_line,
    time_ns,
)
from ._file_layout import Layout, unlink_quietly
from ._file_log import SessionLog, attach_data, carrying
from ._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    Unchecked,
    evolve,
)
from ._rules import check_expected_head, is_expired, place_entries

__all__ = ["FileEngine", "guarded"]

P = ParamSpec("P")
T = TypeVar("T")

_OPEN = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
_CHUNK = 1 << 20
_ERRORS: dict[type[BaseException], type[AgentSessionError]] = {OSError: StoreUnavailable}


def guarded(op: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an engine call with OS errors mapped into the agentsession tree."""
    with map_exceptions(_ERRORS):
        return op(*args, **kwargs)


class _Handle:
    """One open session file and what has been replayed from it."""

    __slots__ = ("evicted", "fd", "lock", "log", "seen", "session_id")

    def __init__(self, session_id: str, fd: int) -> None:
        self.session_id = session_id
        self.fd = fd  # -1 once closed
        self.evicted = False  # out of the table: close after the current use
        self.lock = threading.Lock()
        self.log = SessionLog()
        self.seen = 0  # the file size the log was last brought up to date with


def _write_all(fd: int, payload: bytes) -> None:
    written = os.write(fd, payload)
    while written < len(payload):  # only for writes larger than one call takes
        written += os.write(fd, memoryview(payload)[written:])


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:  # only for reads past what one call returns
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise IntegrityError("the session file is shorter than its index says")
        data += more
    return data


def _order(info: SessionInfo) -> tuple[int, str]:
    return time_ns(info.updated_at), info.id


class FileEngine:
    """Every store call on one base directory, as blocking functions."""

    def __init__(self, base: str, *, fsync: bool = False, max_open: int = 128) -> None:
        self.layout = Layout(base, fsync=fsync)
        self.fsync = fsync
        self._max_open = max(1, max_open)
        self._lock = threading.Lock()  # the handle table
        self._id_lock = threading.Lock()  # id-level calls within this process
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._lock_fd = -1
        self._closed = False

    # -- handles -----------------------------------------------------------------

    def _handle(self, session_id: str) -> _Handle:
        with self._lock:
            if self._closed:
                raise StoreClosed("the store is closed")
            handle = self._handles.get(session_id)
            if handle is not None:
                self._handles.move_to_end(session_id)
                return handle
            try:
                fd = os.open(self.layout.id_link(session_id), _OPEN)
            except FileNotFoundError:
                raise SessionNotFound() from None
            return self._remember(_Handle(session_id, fd))

    def _remember(self, handle: _Handle) -> _Handle:
        # Caller holds self._lock.
        old = self._handles.pop(handle.session_id, None)
        if old is not None:
            self._evict(old)
        self._handles[handle.session_id] = handle
        while len(self._handles) > self._max_open:
            self._evict(self._handles.popitem(last=False)[1])
        return handle

    @staticmethod
    def _evict(handle: _Handle) -> None:
        # Close now if no thread is using it; else the thread using it closes it.
        handle.evicted = True
        if handle.lock.acquire(blocking=False):
            try:
                _close(handle)
            finally:
                handle.lock.release()

    def _forget(self, handle: _Handle) -> None:
        """Drop a handle whose file is gone (caller holds ``handle.lock``)."""
        with self._lock:
            if self._handles.get(handle.session_id) is handle:
                del self._handles[handle.session_id]
        _close(handle)

    @contextmanager
    def _session(self, session_id: str, *, write: bool) -> Iterator[_Handle]:
        """The session's handle, up to date; with ``write``, under ``LOCK_EX``."""
        for _ in range(4):
            handle = self._handle(session_id)
            with handle.lock:
                if handle.fd < 0:
                    continue  # evicted between lookup and lock
                if write:
                    fcntl.flock(handle.fd, fcntl.LOCK_EX)
                try:
                    current = self._refresh(handle, locked=write)
                    if current:
                        yield handle
                        return
                finally:
                    if write and handle.fd >= 0:
                        fcntl.flock(handle.fd, fcntl.LOCK_UN)
                    if handle.evicted:
                        _close(handle)
                self._forget(handle)
        raise SessionNotFound()

    def _refresh(self, handle: _Handle, *, locked: bool) -> bool:
        """Bring the log up to date; False if the file has been erased."""
        stat = os.fstat(handle.fd)
        if stat.st_nlink == 0:
            return False
        if stat.st_size == handle.seen == handle.log.committed and handle.log.loaded:
            return True  # append-only: same size, nothing new
        # (With a torn tail seen, same size proves nothing: another process may
        # have cut it off and appended a line of just that length.)
        if not locked:
            fcntl.flock(handle.fd, fcntl.LOCK_SH)
            try:
                return self._refresh(handle, locked=True)
            finally:
                fcntl.flock(handle.fd, fcntl.LOCK_UN)
        try:
            self._replay(handle, stat.st_size)
        except IntegrityError:
            handle.log, handle.seen = SessionLog(), 0
            raise
        return handle.log.loaded  # False: not even the first line was written

    def _replay(self, handle: _Handle, size: int) -> None:
        log = handle.log
        if size < log.committed:  # cut below what was committed: start over
            log = handle.log = SessionLog()
        log.resume()
        pos = start = log.committed
        buf = b""
        while pos < size:
            chunk = os.pread(handle.fd, min(max(_CHUNK, len(buf)), size - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            buf = buf + chunk if buf else chunk
            used = log.feed(buf, start)
            buf, start = buf[used:], start + used
        handle.seen = pos

    def _write(self, handle: _Handle, lines: Sequence[bytes], at: datetime) -> list[int]:
        """Append ``lines`` with one ``write``; return the offset of each line.
        Caller holds ``LOCK_EX`` and applies the change to the log after."""
        fd, start = handle.fd, handle.log.committed
        if handle.seen != start:  # a torn tail or an unfinished batch: cut it off
            os.ftruncate(fd, start)
            handle.seen = start
        payload = b"".join(lines)
        try:
            _write_all(fd, payload)
            if self.fsync:
                os.fdatasync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # never leave half a line behind
            raise
        stamp = time_ns(at)
        os.utime(fd, ns=(stamp, stamp))
        offsets = []
        for line in lines:
            offsets.append(start)
            start += len(line)
        handle.seen = handle.log.committed = start
        return offsets

    def _with_data(self, handle: _Handle, entries: list[Entry]) -> list[Entry]:
        if not entries:
            return []
        spans = handle.log.spans
        first = min(spans[e.id][0] for e in entries)
        end = max(sum(spans[e.id]) for e in entries)
        needed = sum(spans[e.id][1] for e in entries)
        if end - first <= 2 * needed + 65536:  # near each other: one read
            return attach_data(entries, spans, _pread(handle.fd, end - first, first), first)
        result: list[Entry] = []
        for entry in entries:
            offset, length = spans[entry.id]
            buf = _pread(handle.fd, length, offset)
            result.extend(attach_data([entry], spans, buf, offset))
        return result

    @staticmethod
    def _live(handle: _Handle, now: datetime) -> SessionInfo:
        info = handle.log.info
        if is_expired(info, now):
            raise SessionNotFound()
        return info

    # -- id-level operations ------------------------------------------------------

    @contextmanager
    def _id_ops(self) -> Iterator[None]:
        with self._id_lock:
            if self._closed:
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
            with self._session(session_id, write=True) as handle:
                if not is_expired(handle.log.info, now):
                    raise ConflictError("a session with this id already exists")
                self._erase(handle)
        except SessionNotFound:
            unlink_quietly(self.layout.id_link(session_id))  # a link to nothing

    def _erase(self, handle: _Handle) -> None:
        info = handle.log.info
        self.layout.unlink(info.agent, info.id, info.user_id)
        self._forget(handle)

    def _install(self, info: SessionInfo, lines: Sequence[bytes]) -> None:
        """Write a new session file whole, then publish it."""
        payload = b"".join(lines)
        fd = self.layout.create_file(info.agent, info.id)
        try:
            _write_all(fd, payload)
            if self.fsync:
                os.fsync(fd)
            os.utime(fd, ns=(time_ns(info.updated_at), time_ns(info.updated_at)))
            self.layout.link(info.agent, info.id, info.user_id)
        except BaseException:
            os.close(fd)
            os.unlink(self.layout.session_file(info.agent, info.id))
            raise
        handle = _Handle(info.id, fd)
        handle.log.feed(payload, 0)
        handle.seen = len(payload)
        with self._lock:
            self._remember(handle)

    def _snapshot(
        self,
        info: SessionInfo,
        entries: Sequence[Entry],
        checkpoints: Sequence[Checkpoint],
    ) -> list[bytes]:
        """A new file holding everything at once (import, rotation)."""
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
        with self._session(session_id, write=False) as handle:
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
        if self._closed:
            raise StoreClosed("the store is closed")
        if limit == 0:
            return []
        owner = None if user_id is UNCHECKED else owner_key(user_id)
        candidates = sorted(self.layout.candidates(agent, owner), reverse=True)
        want = offset + limit
        rows: list[SessionInfo] = []
        checked: set[str] = set()  # a crash's leftover link may name a session twice
        for key in candidates:
            if len(rows) >= want and key < _order(rows[-1]):
                break  # mtime = updated_at: every remaining candidate is older
            if key[1] in checked:
                continue
            checked.add(key[1])
            info = self._peek(key[1])
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
        return rows[offset:want]

    def _peek(self, session_id: str) -> SessionInfo | None:
        try:
            with self._session(session_id, write=False) as handle:
                info = handle.log.info
        except (SessionNotFound, IntegrityError):
            return None  # erased meanwhile, a leftover, or damaged (get() says which)
        return info if info.id == session_id else None

    def delete_session(self, session_id: str) -> bool:
        with self._id_ops():
            try:
                with self._session(session_id, write=True) as handle:
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
    ) -> tuple[SessionInfo, list[Entry]]:
        with self._session(session_id, write=True) as handle:
            log = handle.log
            info = self._live(handle, now)
            check_expected_head(info.head, expected_head)
            parent = log.entries[info.head] if info.head is not None else None
            placed = place_entries(
                entries,
                parent_id=info.head,
                parent_depth=parent.depth if parent else 0,
                message_count=info.message_count,
                max_messages=info.max_messages,
            )
            if not placed:
                return info, []
            texts = [e.data_json for e in entries]
            lines = entry_lines(placed, texts, at=now, expires_at=expires_at)
            offsets = self._write(handle, lines, now)
            for entry, offset, line in zip(placed, offsets, lines, strict=True):
                log.add_entry(carrying(entry, NO_DATA), offset, len(line))
            last = placed[-1]
            info = log.bump(now, expires_at, head=last.id, message_count=last.message_index)
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
        with self._session(session_id, write=False) as handle:
            info = self._live(handle, now)
            cursor = info.head if before is None else handle.log.entry(before).parent_id
            path = handle.log.walk(cursor, limit, kind)
            return info, self._with_data(handle, path) if with_data else path

    def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        with self._session(session_id, write=False) as handle:
            self._live(handle, now)
            return self._with_data(handle, [handle.log.entry(entry_id)])[0]

    def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._session(session_id, write=True) as handle:
            info = self._live(handle, now)
            if expected_revision is not None and info.revision != expected_revision:
                raise ConflictError("the session changed since it was read")
            if entry_id is not None:
                handle.log.entry(entry_id)
            self._write(handle, [head_line(entry_id, at=now, expires_at=expires_at)], now)
            handle.log.move_head(entry_id, now, expires_at)
            return handle.log.info

    def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        with self._session(checkpoint.session_id, write=True) as handle:
            self._live(handle, now)
            if checkpoint.entry_id is not None:
                handle.log.entry(checkpoint.entry_id)
            line = checkpoint_line(checkpoint, at=now, expires_at=expires_at)
            self._write(handle, [line], now)
            handle.log.add_checkpoint(checkpoint)
            return handle.log.bump(now, expires_at, last_checkpoint_at=now)

    def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        with self._session(session_id, write=False) as handle:
            self._live(handle, now)
            checkpoint = handle.log.checkpoints.get(checkpoint_id)
            if checkpoint is None:
                raise CheckpointNotFound("unknown checkpoint for this session")
            if not with_path:
                return checkpoint, []
            path = handle.log.walk(checkpoint.entry_id)
            return checkpoint, self._with_data(handle, path)

    def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        with self._session(session_id, write=False) as handle:
            self._live(handle, now)
            return sorted(handle.log.checkpoints.values(), key=lambda c: (c.created_at, c.id))

    def list_leaves(self, session_id: str, *, now: datetime) -> tuple[SessionInfo, list[Entry]]:
        with self._session(session_id, write=False) as handle:
            info = self._live(handle, now)
            leaves = [handle.log.entries[i] for i in handle.log.leaves]
            return info, self._with_data(handle, leaves)

    def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        with self._session(session_id, write=True) as handle:
            self._live(handle, now)
            self._write(handle, [metadata_line(metadata, at=now, expires_at=expires_at)], now)
            handle.log.merge_metadata(metadata, now, expires_at)
            return handle.log.info

    def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        with self._id_ops(), self._session(session_id, write=True) as handle:
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
            entries = self._with_data(handle, list(log.entries.values()))
            checkpoints = [
                dataclasses.replace(c, session_id=new_id) for c in log.checkpoints.values()
            ]
            self._install(moved, self._snapshot(moved, entries, checkpoints))
            self._erase(handle)
            return moved

    def prune_expired(self, *, now: datetime, batch: int) -> int:
        erased = 0
        with self._id_ops():
            for session_id in sorted(os.listdir(self.layout.ids)):
                if erased >= batch:
                    break
                try:
                    with self._session(session_id, write=True) as handle:
                        if is_expired(handle.log.info, now):
                            self._erase(handle)
                            erased += 1
                except SessionNotFound:
                    unlink_quietly(self.layout.id_link(session_id))  # a link to nothing
                except IntegrityError:
                    continue  # damaged: left for a human to look at
        return erased

    def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        with self._session(session_id, write=False) as handle:
            info = self._live(handle, now)
            log = handle.log
            ordered = sorted(log.entries.values(), key=lambda e: (e.depth, e.id))
            points = sorted(log.checkpoints.values(), key=lambda c: (c.created_at, c.id))
            return SessionExport(info, tuple(self._with_data(handle, ordered)), tuple(points))

    def import_session(self, export: SessionExport) -> None:
        info = export.session
        with self._id_ops():
            self._claim(info.id, info.updated_at)
            self._install(info, self._snapshot(info, export.entries, export.checkpoints))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            handles, self._handles = list(self._handles.values()), OrderedDict()
        for handle in handles:
            with handle.lock:
                _close(handle)
        with self._id_lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


def _close(handle: _Handle) -> None:
    if handle.fd >= 0:
        os.close(handle.fd)
        handle.fd = -1
