"""Open session files: each with its replayed log, in a bounded LRU.

A :class:`Handle` is one session file opened ``O_APPEND``, the
:class:`SessionLog` replayed from it, and how far it has been read. Before
each use, one ``fstat`` tells what happened since:

* the same size as seen (and nothing uncommitted seen) -> the log is current;
* larger -> read and replay only from the last committed line on;
* no link left -> the session was erased or rotated: open it again by id.

``flock`` does the cross-process part: writers hold ``LOCK_EX`` from reading
the head to the ``write`` of their line, and a reader that finds the file
changed replays the new bytes under ``LOCK_SH``. ``flock`` excludes other
descriptors of this process too; the handle's thread lock orders the
threads that share one descriptor.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from agentsession._exceptions import IntegrityError, SessionNotFound, StoreClosed
from agentsession._models import Entry
from agentsession.stores.file._format import time_ns
from agentsession.stores.file._layout import FILE_MODE, unlink_quietly
from agentsession.stores.file._log import SessionLog, attach_data

__all__ = ["Handle", "Handles", "OpenTable", "set_mtime", "write_all", "write_file"]

V = TypeVar("V")

_CHUNK = 1 << 20


def write_all(fd: int, payload: bytes) -> None:
    written = os.write(fd, payload)
    while written < len(payload):  # only for writes larger than one call takes
        written += os.write(fd, memoryview(payload)[written:])


def set_mtime(fd: int, moment: datetime) -> None:
    """mtime = ``updated_at``: what listing sorts by. Best effort: the line is
    written already, and a wrong mtime only misorders a listing."""
    stamp = time_ns(moment)
    with contextlib.suppress(OSError):
        os.utime(fd, ns=(stamp, stamp))


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:  # only for reads past what one call returns
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise IntegrityError("the session file is shorter than its index says")
        data += more
    return data


def write_file(path: str, payload: bytes, *, fsync: bool = False) -> None:
    """Put ``payload`` at ``path`` whole or not at all: a temporary file beside
    it (a name no session or index has), renamed over it."""
    temporary = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            write_all(fd, payload)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        unlink_quietly(temporary)
        raise


class OpenTable(Generic[V]):
    """What a store keeps open, by name: at most ``size`` of them, the least
    recently used pushed out first (the caller closes those, outside the
    table's lock); ``closed`` once the store is."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._items: OrderedDict[str, V] = OrderedDict()
        self.closed = False

    def get(self, name: str, make: Callable[[], V]) -> tuple[V, list[V]]:
        """The item named ``name`` (``make()`` if there is none), and the items
        it pushed out."""
        with self._lock:
            if self.closed:
                raise StoreClosed("the store is closed")
            item = self._items.get(name)
            if item is not None:
                self._items.move_to_end(name)
                return item, []
            item = make()
            return item, self._put(name, item)

    def put(self, name: str, item: V) -> list[V]:
        """Add or replace an item; the items it pushed out (a replaced one too)."""
        with self._lock:
            return self._put(name, item)

    def _put(self, name: str, item: V) -> list[V]:
        out = []
        old = self._items.pop(name, None)
        if old is not None:
            out.append(old)
        self._items[name] = item
        while len(self._items) > self.size:
            out.append(self._items.popitem(last=False)[1])
        return out

    def drop(self, name: str, item: V) -> None:
        """Forget ``item``, if it is still the one named ``name``."""
        with self._lock:
            if self._items.get(name) is item:
                del self._items[name]

    def close(self) -> list[V]:
        """Mark the table closed; every item it held."""
        with self._lock:
            self.closed = True
            items, self._items = list(self._items.values()), OrderedDict()
        return items


class Handle:
    """One open session file and what has been replayed from it."""

    __slots__ = ("evicted", "fd", "lock", "log", "seen", "session_id")

    def __init__(self, session_id: str, fd: int) -> None:
        self.session_id = session_id
        self.fd = fd  # -1 once closed
        self.evicted = False  # out of the table: close after the current use
        self.lock = threading.Lock()
        self.log = SessionLog()
        self.seen = 0  # the file size the log was last brought up to date with

    @classmethod
    def written(cls, session_id: str, fd: int, payload: bytes) -> Handle:
        """The handle of a file this process just wrote whole."""
        handle = cls(session_id, fd)
        handle.log.feed(payload, 0)
        handle.seen = len(payload)
        return handle

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def refresh(self, *, locked: bool) -> bool:
        """Bring the log up to date; False if the file has been erased."""
        stat = os.fstat(self.fd)
        if stat.st_nlink == 0:
            return False
        if stat.st_size == self.seen == self.log.committed and self.log.loaded:
            return True  # append-only: same size, nothing new
        # (With a torn tail seen, same size proves nothing: another process may
        # have cut it off and appended a line of just that length.)
        if not locked:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            try:
                return self.refresh(locked=True)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        try:
            self._replay(stat.st_size)
        except IntegrityError:
            self.log, self.seen = SessionLog(), 0
            raise
        return self.log.loaded  # False: not even the first line was written

    def _replay(self, size: int) -> None:
        log = self.log
        if size < log.committed:  # cut below what was committed: start over
            log = self.log = SessionLog()
        log.resume()
        pos = start = log.committed
        buf = b""
        while pos < size:
            chunk = os.pread(self.fd, min(max(_CHUNK, len(buf)), size - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            buf = buf + chunk if buf else chunk
            used = log.feed(buf, start)
            buf, start = buf[used:], start + used
        self.seen = pos

    def write(self, lines: Sequence[bytes], at: datetime, *, fsync: bool) -> list[int]:
        """Append ``lines`` with one ``write``; return the offset of each line.
        The caller holds ``LOCK_EX`` and applies the change to the log after."""
        fd, start = self.fd, self.log.committed
        if self.seen != start:  # a torn tail or an unfinished batch: cut it off
            os.ftruncate(fd, start)
            self.seen = start
        payload = b"".join(lines)
        try:
            write_all(fd, payload)
            if fsync:
                os.fdatasync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # never leave half a line behind
            raise
        set_mtime(fd, at)
        offsets = []
        for line in lines:
            offsets.append(start)
            start += len(line)
        self.seen = self.log.committed = start
        return offsets

    def with_data(self, entries: list[Entry], lazy: bool = False) -> list[Entry]:
        """``entries`` with their data, read from the file now (``lazy``: as
        its text, decoded on first use)."""
        if not entries:
            return []
        spans = self.log.spans
        first = min(spans[e.id][0] for e in entries)
        end = max(sum(spans[e.id]) for e in entries)
        needed = sum(spans[e.id][1] for e in entries)
        if end - first <= 2 * needed + 65536:  # near each other: one read
            return attach_data(entries, spans, _pread(self.fd, end - first, first), first, lazy)
        result: list[Entry] = []
        for entry in entries:
            offset, length = spans[entry.id]
            result.extend(
                attach_data([entry], spans, _pread(self.fd, length, offset), offset, lazy)
            )
        return result


class Handles:
    """The open session files of one store, at most ``max_open`` of them."""

    def __init__(self, opener: Callable[[str], int], max_open: int) -> None:
        self._open = opener  # session id -> descriptor, or SessionNotFound
        self._table: OpenTable[Handle] = OpenTable(max_open)

    @property
    def closed(self) -> bool:
        return self._table.closed

    def _get(self, session_id: str) -> Handle:
        handle, evicted = self._table.get(
            session_id, lambda: Handle(session_id, self._open(session_id))
        )
        _evict(evicted)
        return handle

    def adopt(self, handle: Handle) -> None:
        _evict(self._table.put(handle.session_id, handle))

    def forget(self, handle: Handle) -> None:
        """Drop a handle whose file is gone (the caller holds ``handle.lock``)."""
        self._table.drop(handle.session_id, handle)
        handle.close()

    @contextlib.contextmanager
    def session(self, session_id: str, *, write: bool) -> Iterator[Handle]:
        """The session's handle, up to date; with ``write``, under ``LOCK_EX``."""
        for _ in range(4):
            handle = self._get(session_id)
            with handle.lock:
                if handle.fd < 0:
                    continue  # evicted between lookup and lock
                if write:
                    fcntl.flock(handle.fd, fcntl.LOCK_EX)
                try:
                    if handle.refresh(locked=write):
                        yield handle
                        return
                finally:
                    if write and handle.fd >= 0:
                        fcntl.flock(handle.fd, fcntl.LOCK_UN)
                    if handle.evicted:
                        handle.close()
                self.forget(handle)
        raise SessionNotFound()

    def close(self) -> None:
        for handle in self._table.close():
            with handle.lock:
                handle.close()


def _evict(handles: list[Handle]) -> None:
    # Close now if no thread is using it; else the thread using it closes it.
    for handle in handles:
        handle.evicted = True
        if handle.lock.acquire(blocking=False):
            try:
                handle.close()
            finally:
                handle.lock.release()
