"""Open session files: each with its replayed log, in a bounded LRU.

A :class:`Handle` is one session file opened ``O_APPEND``, the
:class:`SessionLog` replayed from it, and how far it has been read. Before
each use, one ``fstat`` tells what happened since:

* the same size as seen (and nothing uncommitted seen) -> the log is current;
* larger -> read and replay only from the last committed line on;
* no link left -> the session was erased or rotated: open it again by id.

A handle opened on a long file starts from the session's snapshot when there
is one of this very file (:mod:`agentsession.stores.file._snapshot`), and
replays only the lines after it; it writes a new snapshot after a call that
left the file grown enough since the last, and when it is evicted or closed
(``docs/design.md``, "File store indexes").

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
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from agentsession._exceptions import IntegrityError, SessionNotFound, StoreClosed
from agentsession._models import Entry
from agentsession.stores.file._format import time_ns
from agentsession.stores.file._layout import FILE_MODE, Layout, unlink_quietly
from agentsession.stores.file._log import SessionLog, Stale, attach_data
from agentsession.stores.file._snapshot import (
    Header,
    decode_block,
    decode_checkpoints,
    decode_header,
    edges,
    encode,
)

__all__ = ["Handle", "Handles", "OpenTable", "Snapshots", "set_mtime", "write_all", "write_file"]

V = TypeVar("V")

_CHUNK = 1 << 20
_HEADER = 1 << 16  # the first read of a snapshot file: its header, usually whole


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


def _crc(fd: int, span: tuple[int, int]) -> int:
    return zlib.crc32(_pread(fd, span[1], span[0]))


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


class Snapshots:
    """Where the sessions' snapshots are, and when a handle writes one."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        #: files shorter than this replay fast enough: no snapshot.
        self.smallest = 64 << 10
        #: write one after a call that grew the file by this much (or by a
        #: 32nd of its size, if more) since the last one.
        self.every = 256 << 10

    def path(self, session_id: str) -> str:
        return self.layout.snapshot_file(session_id)

    def save(self, session_id: str, payload: bytes) -> None:
        self.layout.makedirs(self.layout.snapshots)
        write_file(self.path(session_id), payload)

    def due(self, size: int, since: int, *, closing: bool = False) -> bool:
        """Whether a file of ``size`` bytes, whose last snapshot ended at
        ``since``, gets one now: after a call, once it grew by ``every``; when
        its handle closes, by ``smallest`` (what a new process would replay
        is bounded); either way by a 128th of its size at least (a snapshot is
        rewritten whole, about a fifth of its file: past 32 MB, that bounds
        what snapshots write to twice what the log grows)."""
        least = self.smallest if closing else self.every
        return size >= self.smallest and size - since >= max(least, size // 128, 1)


class Handle:
    """One open session file and what has been replayed from it."""

    __slots__ = (
        "evicted",
        "fd",
        "lock",
        "log",
        "saved",
        "seen",
        "session_id",
        "snapped",
        "snapshots",
        "wrote",
    )

    def __init__(self, session_id: str, fd: int, snapshots: Snapshots | None = None) -> None:
        self.session_id = session_id
        self.fd = fd  # -1 once closed
        self.evicted = False  # out of the table: close after the current use
        self.lock = threading.Lock()
        self.log = SessionLog()
        self.seen = 0  # the file size the log was last brought up to date with
        self.snapshots = snapshots  # None: this handle neither reads nor writes one
        self.snapped = 0  # ``end`` of the snapshot last read or written
        self.saved = -1  # the descriptor of the snapshot read, until its sections are
        self.wrote = False  # the current call has written to the file

    @classmethod
    def written(
        cls, session_id: str, fd: int, payload: bytes, snapshots: Snapshots | None = None
    ) -> Handle:
        """The handle of a file this process just wrote whole."""
        handle = cls(session_id, fd, snapshots)
        handle.log.feed(payload, 0)
        handle.seen = len(payload)
        return handle

    def close(self) -> None:
        self._drop_saved()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def retire(self) -> None:
        """Close, first writing a snapshot if the file grew enough since the last."""
        snapshots = self.snapshots
        if (
            self.fd >= 0
            and self.log.loaded
            and snapshots is not None
            and snapshots.due(self.log.committed, self.snapped, closing=True)
        ):
            self.snapshot()
        self.close()

    def _drop_saved(self) -> None:
        if self.saved >= 0:
            os.close(self.saved)
            self.saved = -1

    def reset(self, *, snapshots: bool = True) -> None:
        """Forget the log: the next use replays the file (from its start if
        not ``snapshots``)."""
        self._drop_saved()
        self.log, self.seen, self.snapped = SessionLog(), 0, 0
        if not snapshots:
            self.snapshots = None

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
        restored = not self.log.loaded and self._restore(stat)
        try:
            self._replay(stat.st_size)
        except (IntegrityError, Stale):
            self.reset(snapshots=not restored)
            if not restored:
                raise
            try:  # the snapshot may be what does not fit: once more, without it
                self._replay(stat.st_size)
            except IntegrityError:
                self.reset()
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

    # -- snapshots ---------------------------------------------------------------

    def _restore(self, stat: os.stat_result) -> bool:
        """Start the log from the session's snapshot, if there is one of this
        file as it is (the same inode, at least ``end`` long, the same bytes
        at both ends of ``[0, end)``)."""
        snapshots = self.snapshots
        if snapshots is None or stat.st_size < snapshots.smallest:
            return False
        try:
            fd = os.open(snapshots.path(self.session_id), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            first = os.pread(fd, _HEADER, 0)
            while b"\n" not in first and len(first) % _HEADER == 0 and first:
                first += os.pread(fd, _HEADER, len(first))  # a header of many leaves
            decoded = decode_header(first)
            if decoded is None or not self._fits(decoded[0], stat):
                os.close(fd)
                return False
        except BaseException:
            os.close(fd)
            raise
        header, base = decoded
        self.saved = fd
        self.log = SessionLog.restored(
            header.info,
            committed=header.end,
            count=header.count,
            kinds=header.kinds,
            leaves=header.leaves,
            known=header.known,
            block_size=header.block,
            blocks=lambda n: decode_block(self._section(base, header.blocks[n]), header, n),
            checkpoints=lambda: decode_checkpoints(self._section(base, header.checkpoints), header),
            lines=self.lines,
        )
        self.seen = self.snapped = header.end
        return True

    def _fits(self, header: Header, stat: os.stat_result) -> bool:
        if (header.device, header.inode) != (stat.st_dev, stat.st_ino):
            return False  # another file: rewritten whole (rotated, imported, edited)
        if header.end > stat.st_size or header.info.id != self.session_id:
            return False
        front, back = edges(header.end)
        return (_crc(self.fd, front), _crc(self.fd, back)) == (header.front, header.back)

    def _section(self, base: int, where: tuple[int, int, int]) -> bytes:
        """A part of the snapshot read at restore (:class:`Stale` if it is gone)."""
        if self.saved < 0:
            raise Stale("the snapshot is closed")
        offset, length, _ = where
        try:
            section = _pread(self.saved, length, base + offset)
        except (OSError, IntegrityError) as exc:
            raise Stale("the snapshot cannot be read") from exc
        if not self.log.restoring:
            self._drop_saved()  # every part read
        return section

    def snapshot(self) -> None:
        """Save the log as of its last committed line, if it can have one.
        Best effort: a snapshot only spares a replay."""
        assert self.snapshots is not None
        log = self.log
        try:
            stat = os.fstat(self.fd)
            if stat.st_nlink == 0:
                return  # erased meanwhile: nothing to save it for
            front, back = edges(log.committed)
            payload = encode(
                log,
                device=stat.st_dev,
                inode=stat.st_ino,
                front=_crc(self.fd, front),
                back=_crc(self.fd, back),
            )
            if payload is not None:
                self.snapshots.save(self.session_id, payload)
            self.snapped = log.committed  # (also for a file that cannot have one)
        except Stale:
            self.reset(snapshots=False)
        except (OSError, IntegrityError):
            pass

    # -- writes and data -------------------------------------------------------------

    def write(self, lines: Sequence[bytes], at: datetime, *, fsync: bool) -> list[int]:
        """Append ``lines`` with one ``write``; return the offset of each line.
        The caller holds ``LOCK_EX`` and applies the change to the log after."""
        fd, start = self.fd, self.log.committed
        if self.seen != start:  # a torn tail or an unfinished batch: cut it off
            os.ftruncate(fd, start)
            self.seen = start
        payload = b"".join(lines)
        self.wrote = True
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

    def lines(self, spans: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes at each ``(offset, length)`` of the file: one read where
        they are near each other."""
        if not spans:
            return []
        first = min(offset for offset, _ in spans)
        end = max(offset + length for offset, length in spans)
        needed = sum(length for _, length in spans)
        if end - first > 2 * needed + 65536:
            return [_pread(self.fd, length, offset) for offset, length in spans]
        buf = _pread(self.fd, end - first, first)
        return [buf[offset - first : offset - first + length] for offset, length in spans]

    def with_data(self, entries: list[Entry], lazy: bool = False) -> list[Entry]:
        """``entries`` with their data, read from the file now (``lazy``: as
        its text, decoded on first use)."""
        return attach_data(entries, self.lines([self.log.span(e.id) for e in entries]), lazy)


class Handles:
    """The open session files of one store, at most ``max_open`` of them."""

    def __init__(
        self, opener: Callable[[str], int], max_open: int, snapshots: Snapshots | None = None
    ) -> None:
        self._open = opener  # session id -> descriptor, or SessionNotFound
        self._table: OpenTable[Handle] = OpenTable(max_open)
        self.snapshots = snapshots

    @property
    def closed(self) -> bool:
        return self._table.closed

    def _get(self, session_id: str) -> Handle:
        handle, evicted = self._table.get(
            session_id, lambda: Handle(session_id, self._open(session_id), self.snapshots)
        )
        _evict(evicted)
        return handle

    def adopt(self, handle: Handle) -> None:
        handle.snapshots = self.snapshots
        _evict(self._table.put(handle.session_id, handle))

    def forget(self, handle: Handle) -> None:
        """Drop a handle whose file is gone (the caller holds ``handle.lock``)."""
        self._table.drop(handle.session_id, handle)
        handle.close()

    @contextlib.contextmanager
    def session(self, session_id: str, *, write: bool) -> Iterator[Handle]:
        """The session's handle, up to date; with ``write``, under ``LOCK_EX``.

        A snapshot found damaged during the call (:class:`Stale`) makes the
        handle replay the whole file from then on; the caller runs the call
        again (:func:`agentsession.stores.file._engine.guarded`), unless it
        had written already."""
        for _ in range(4):
            handle = self._get(session_id)
            with handle.lock:
                if handle.fd < 0:
                    continue  # evicted between lookup and lock
                if write:
                    fcntl.flock(handle.fd, fcntl.LOCK_EX)
                handle.wrote = False
                try:
                    if handle.refresh(locked=write):
                        try:
                            yield handle
                        except Stale as exc:
                            handle.reset(snapshots=False)
                            if self.snapshots is not None:
                                unlink_quietly(self.snapshots.path(session_id))
                            if handle.wrote:
                                raise IntegrityError("the session's snapshot is damaged") from exc
                            raise
                        done = True
                    else:
                        done = False
                finally:
                    if write and handle.fd >= 0:
                        fcntl.flock(handle.fd, fcntl.LOCK_UN)
                    if handle.evicted:
                        handle.retire()
                if done:
                    snapshots = handle.snapshots
                    if (
                        snapshots is not None
                        and handle.fd >= 0
                        and snapshots.due(handle.log.committed, handle.snapped)
                    ):
                        handle.snapshot()
                    return
                self.forget(handle)
        raise SessionNotFound()

    def close(self) -> None:
        for handle in self._table.close():
            with handle.lock:
                handle.retire()


def _evict(handles: list[Handle]) -> None:
    # Close now if no thread is using it; else the thread using it closes it.
    for handle in handles:
        handle.evicted = True
        if handle.lock.acquire(blocking=False):
            try:
                handle.retire()
            finally:
                handle.lock.release()
