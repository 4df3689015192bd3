"""The listing index: per agent, and per owner and agent, a journal of the
times the sessions were written, newest last::

    <base>/<agent>/.recent                   every session of the agent
    <base>/.owners/<owner>/<agent>/.recent   one owner's sessions of the agent

A header line, ``agentsession-recent 1 <boot id> <body> <tail>`` (bytes of
lines at the last rebuild or compaction, and of the lines after them when
they were last deduplicated), then one line per write,
``<bound> <at> <session_id> <crc>``: ``at`` the ``updated_at`` the write
sets (integer nanoseconds), ``bound`` the largest ``at`` of this line and
every line before it, ``crc`` the CRC-32 of the rest of the line.

Every session has a line whose ``at`` is at least its ``updated_at`` and its
file's mtime: a write appends its line (under the journal's ``flock``)
before it changes the session file. A listing reads the journals backwards,
``stat``s each session it meets, and hands a candidate out once the later of
its mtime and its last line's ``at`` is above the bound being read, as no
session not met yet can be newer (a write killed before it set the mtime
may leave one below its ``updated_at``). A journal missing, damaged, or
from an earlier boot is rebuilt from its directory; one whose lines after the
body grew by ``tail`` bytes keeps only the last of each session's there; one
whose lines after the body outgrew ``growth`` times it (plus ``slack``) is
compacted. Why, and what is not checked: ``docs/design.md``, "File store indexes".
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import heapq
import os
import re
import threading
import weakref
import zlib
from collections.abc import Generator, Iterator
from datetime import datetime
from typing import Final, NamedTuple

from agentsession.stores.file._format import owner_key, time_ns
from agentsession.stores.file._handles import OpenTable, write_all, write_file
from agentsession.stores.file._layout import FILE_MODE, Layout

__all__ = ["Damaged", "Journal", "Recent", "parse"]

NAME: Final = ".recent"
MAGIC: Final = b"agentsession-recent"
VERSION: Final = b"1"
_CHUNK: Final = 1 << 14
_TAIL: Final = 512  # more than a line: ids are at most 128 characters
_LINE = re.compile(rb"((-?\d{1,20}) (-?\d{1,20}) ([A-Za-z0-9_-]{1,128})) ([0-9a-f]{8})")
_OPEN: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_KEEP_OPEN: Final = 32  # journals a store keeps open for its writes


def _boot_id() -> bytes:
    """This boot of the machine (Linux; elsewhere a constant: no reboot seen)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            found = f.read().strip()
    except OSError:
        return b"-"
    return found if found and b" " not in found else b"-"


BOOT: Final = _boot_id()


class Journal(NamedTuple):
    path: str  # the journal file
    agent: str  # the agent whose session files its lines name
    members: str  # the directory whose entries are its sessions (what a rebuild reads)
    suffix: str  # how those entries' names end


class Damaged(Exception):
    """A journal that must be rebuilt (found by a reader, which starts over)."""

    def __init__(self, journal: Journal, inode: int) -> None:
        super().__init__(journal.path)
        self.journal = journal
        self.inode = inode


class _State(NamedTuple):
    start: int  # where the lines start (after the header)
    body: int  # bytes of lines at the last rebuild or compaction
    tail: int  # bytes of lines after those, when they were last deduplicated
    end: int  # the end of the last whole line
    bound: int | None  # the last line's bound


def _line(bound: int, at: int, session_id: bytes) -> bytes:
    text = b"%d %d %s" % (bound, at, session_id)
    return b"%s %08x\n" % (text, zlib.crc32(text))


def parse(raw: bytes) -> tuple[int, int, str] | None:
    """``(bound, at, session_id)`` of a journal line (without its newline),
    or ``None`` if it is not one."""
    match = _LINE.fullmatch(raw)
    if match is None or int(match[5], 16) != zlib.crc32(match[1]):
        return None
    bound, at = int(match[2]), int(match[3])
    return (bound, at, match[4].decode("ascii")) if at <= bound else None


def _header(fd: int) -> tuple[int, int, int] | None:
    """``(start, body, tail)`` from a journal's header, if this boot wrote it."""
    head = os.pread(fd, 128, 0)
    end = head.find(b"\n")
    parts = head[:end].split(b" ")
    if end < 0 or len(parts) != 5 or parts[:2] != [MAGIC, VERSION] or parts[2] != BOOT:
        return None
    if not (parts[3].isdigit() and parts[4].isdigit()):
        return None
    return end + 1, int(parts[3]), int(parts[4])


def _state(fd: int, size: int) -> _State | None:
    """Where a writer stands in a journal; ``None`` if it needs a rebuild."""
    header = _header(fd)
    if header is None:
        return None
    start, body, deduplicated = header
    if size < start + body + deduplicated:
        return None  # cut short
    take = min(size - start, _TAIL)
    tail = os.pread(fd, take, size - take)
    last = tail.rfind(b"\n")
    if last < 0:
        return _State(start, body, deduplicated, start, None) if take < _TAIL else None
    end = size - take + last + 1
    before = tail.rfind(b"\n", 0, last)
    if before < 0 and take == _TAIL:
        return None  # a line longer than any this module writes
    line = parse(tail[before + 1 : last])
    if line is None:
        return None
    return _State(start, body, deduplicated, end, line[0])


def _lines_back(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The whole lines of ``[start, end)`` of a file, last first (without their
    newline); bytes after the last newline are a write under way, or cut short
    by a crash, and are skipped."""
    pos, carry, whole = end, b"", False
    while pos > start:
        take = min(_CHUNK, pos - start)
        pos -= take
        buf = os.pread(fd, take, pos) + carry
        if not whole:  # still looking for the end of the last whole line
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = b""
                continue
            buf, whole = buf[: cut + 1], True
        parts = buf.split(b"\n")
        parts.pop()  # after the last newline: nothing
        carry = parts.pop(0) + b"\n" if pos > start else b""
        yield from reversed(parts)


class _Held:
    """A journal this process keeps open for its writes, and what it knows of it."""

    __slots__ = ("body", "bound", "end", "fd", "lock", "start", "tail")

    def __init__(self, fd: int) -> None:
        self.fd = fd  # -1 once closed
        self.lock = threading.Lock()  # (``flock`` does not exclude this process's threads)
        # Where this process's last line left the journal (a :class:`_State`):
        # while its size is ``end``, nobody else has appended since.
        self.start, self.body, self.tail, self.end = 0, 0, 0, -1
        self.bound: int | None = None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


#: every :class:`Recent`, to forget their descriptors in a forked child.
_EVERY: weakref.WeakSet[Recent] = weakref.WeakSet()


def _after_fork() -> None:
    for recent in list(_EVERY):
        recent._forked()


class Recent:
    """The listing journals of one base directory."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.growth = 4
        self.slack = 64 << 10
        self.tail = 256 << 10
        self._open: OpenTable[_Held] = OpenTable(_KEEP_OPEN)
        self._journals: dict[tuple[str, str | None], tuple[Journal, Journal]] = {}
        _EVERY.add(self)

    def _forked(self) -> None:
        """In a child process: the inherited descriptors share their ``flock``
        with the parent's, so the child opens its own."""
        inherited, self._open = self._open, OpenTable(_KEEP_OPEN)
        for held in inherited.close():
            with contextlib.suppress(OSError):
                os.close(held.fd)

    # -- which journals ----------------------------------------------------------------

    def _agent(self, agent: str) -> Journal:
        directory = os.path.join(self.layout.base, agent)
        return Journal(os.path.join(directory, NAME), agent, directory, ".jsonl")

    def _owner(self, owner: str, agent: str) -> Journal:
        directory = os.path.join(self.layout.owners, owner, agent)
        return Journal(os.path.join(directory, NAME), agent, directory, "")

    def scope(self, agent: str | None, owner: str | None) -> list[Journal]:
        """The journals of a listing (``owner``: an :func:`owner_key`, or ``None`` for any)."""
        if agent is not None:
            return [self._agent(agent) if owner is None else self._owner(owner, agent)]
        root = self.layout.base if owner is None else os.path.join(self.layout.owners, owner)
        try:
            listing = os.scandir(root)
        except FileNotFoundError:
            return []
        with listing:
            agents = sorted(e.name for e in listing if not e.name.startswith(".") and e.is_dir())
        return [self._agent(a) if owner is None else self._owner(owner, a) for a in agents]

    def _mtime(self, agent: str, session_id: str) -> int | None:
        try:
            return os.stat(self.layout.session_file(agent, session_id)).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    # -- writing ----------------------------------------------------------------------

    def note(self, agent: str, user_id: str | None, session_id: str, at: datetime) -> None:
        """Record that a write is about to give the session ``updated_at = at``.
        Called before the session file changes (for a new session: before its
        ``.ids`` link), so a crash cannot leave it unrecorded."""
        journals = self._journals.get((agent, user_id))
        if journals is None:
            if len(self._journals) >= 4096:
                self._journals.clear()
            journals = (self._agent(agent), self._owner(owner_key(user_id), agent))
            self._journals[agent, user_id] = journals
        stamp = time_ns(at)
        name = session_id.encode("ascii")
        for journal in journals:
            self._append(journal, stamp, name)

    def _append(self, journal: Journal, at: int, session_id: bytes) -> None:
        for _ in range(8):
            held = self._held(journal)
            with held.lock:
                if held.fd < 0:
                    continue  # evicted between lookup and lock
                fcntl.flock(held.fd, fcntl.LOCK_EX)
                try:
                    if self._append_held(journal, held, at, session_id):
                        return
                finally:
                    if held.fd >= 0:
                        fcntl.flock(held.fd, fcntl.LOCK_UN)
        raise OSError(f"the listing index {journal.path} keeps changing")

    def _append_held(self, journal: Journal, held: _Held, at: int, session_id: bytes) -> bool:
        """Append under the ``flock``; False if the journal must be opened again."""
        fd = held.fd
        stat = os.fstat(fd)
        if stat.st_nlink == 0:  # replaced while we waited: open the new one
            self._forget(journal.path, held)
            return False
        size = stat.st_size
        if size != held.end:  # another process appended (or this is our first line)
            state = _state(fd, size)
            if state is None:
                self._rebuild(journal)
                self._forget(journal.path, held)
                return False
            if state.end < size:
                os.ftruncate(fd, state.end)  # a line cut short by a crash
            held.start, held.body, held.tail, held.end, held.bound = state
        bound = at if held.bound is None or at > held.bound else held.bound
        line = _line(bound, at, session_id)
        write_all(fd, line)
        held.end += len(line)
        held.bound = bound
        after = held.end - held.start - held.body  # the lines after the compacted ones
        if after > self.growth * held.body + self.slack:
            self._compact(journal, fd, held.start, held.end)
            self._forget(journal.path, held)
        elif after - held.tail > self.tail:
            self._deduplicate(journal, fd, held.start + held.body, held.end)
            self._forget(journal.path, held)
        return True

    def _held(self, journal: Journal) -> _Held:
        held, evicted = self._open.get(journal.path, lambda: _Held(self._create(journal)))
        for old in evicted:
            with old.lock:
                old.close()
        return held

    def _create(self, journal: Journal) -> int:
        try:
            return os.open(journal.path, _OPEN, FILE_MODE)
        except FileNotFoundError:
            self.layout.makedirs(journal.members)
            return os.open(journal.path, _OPEN, FILE_MODE)

    def _forget(self, path: str, held: _Held) -> None:
        """Close a journal descriptor (the caller holds ``held.lock``)."""
        self._open.drop(path, held)
        held.close()

    def close(self) -> None:
        for held in self._open.close():
            with held.lock:
                held.close()

    def _rebuild(self, journal: Journal) -> None:
        """Write the journal anew from its directory (the caller holds its ``flock``)."""
        found = []
        try:
            listing = os.scandir(journal.members)
        except FileNotFoundError:
            listing = None
        if listing is not None:
            with listing:
                names = [e.name for e in listing]
            suffix = journal.suffix
            for name in names:
                if name.startswith(".") or not name.endswith(suffix):
                    continue
                session_id = name[: len(name) - len(suffix)]
                mtime = self._mtime(journal.agent, session_id)
                if mtime is not None:
                    found.append((mtime, session_id))
        self._write(journal, sorted(found))

    def _compact(self, journal: Journal, fd: int, start: int, end: int) -> None:
        """Keep one line per live session, its last ``at`` (or its mtime, if
        later: a write under way); the caller holds the ``flock``."""
        last: dict[str, int] = {}
        data = os.pread(fd, end - start, start)
        for raw in data.split(b"\n")[:-1]:
            line = parse(raw)
            if line is None:
                self._rebuild(journal)
                return
            last[line[2]] = line[1]
        kept = []
        for session_id, at in last.items():
            mtime = self._mtime(journal.agent, session_id)
            if mtime is not None:
                kept.append((max(at, mtime), session_id))
        self._write(journal, sorted(kept))

    def _deduplicate(self, journal: Journal, fd: int, start: int, end: int) -> None:
        """Keep, of the lines after the compacted ones (``[start, end)``), the
        last of each session: a session's last line has its newest ``at``,
        and the bounds of what is kept still never go down. The compacted
        lines are copied as they are; the caller holds the ``flock``."""
        data = os.pread(fd, end - start, start)
        lines = data.split(b"\n")[:-1]
        last: dict[str, int] = {}
        for n, raw in enumerate(lines):
            line = parse(raw)
            if line is None:
                self._rebuild(journal)
                return
            last[line[2]] = n
        kept = b"".join(lines[n] + b"\n" for n in sorted(last.values()))
        body = os.pread(fd, start, 0).split(b"\n", 1)[1]
        self._put(journal, body, kept)

    def _write(self, journal: Journal, lines: list[tuple[int, str]]) -> None:
        self._put(journal, b"".join(_line(at, at, s.encode("ascii")) for at, s in lines), b"")

    def _put(self, journal: Journal, body: bytes, tail: bytes) -> None:
        header = b" ".join((MAGIC, VERSION, BOOT, b"%d" % len(body), b"%d" % len(tail)))
        write_file(journal.path, header + b"\n" + body + tail)

    def rebuild(self, journal: Journal, inode: int | None) -> None:
        """Rebuild a journal a reader found missing (``inode=None``) or damaged,
        unless another process replaced it meanwhile."""
        fd = os.open(journal.path, _OPEN, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            stat = os.fstat(fd)
            if stat.st_nlink == 0:
                return
            if inode is None and _state(fd, stat.st_size) is not None:
                return
            if inode is not None and stat.st_ino != inode:
                return
            self._rebuild(journal)
        finally:
            os.close(fd)

    # -- reading ----------------------------------------------------------------------

    def _lines(self, journal: Journal) -> Generator[tuple[int, int, str, str], None, None]:
        """``(bound, at, session_id, agent)`` of each line, last first (:class:`Damaged`)."""
        fd = -1
        for _ in range(3):
            try:
                fd = os.open(journal.path, os.O_RDONLY | os.O_CLOEXEC)
                break
            except FileNotFoundError:
                if not os.path.isdir(journal.members):
                    return  # no session there
                self.rebuild(journal, None)
        if fd < 0:
            raise OSError(f"the listing index {journal.path} cannot be made")
        try:
            stat = os.fstat(fd)
            header = _header(fd)
            if header is None or stat.st_size < sum(header):
                raise Damaged(journal, stat.st_ino)
            # A line is handed out once the line before it is read and found
            # no higher: the merge takes a stream's next bound as a bound of
            # all the stream's lines still to come.
            held = None
            for raw in _lines_back(fd, header[0], stat.st_size):
                line = parse(raw)
                if line is None or (held is not None and line[0] > held[0]):
                    raise Damaged(journal, stat.st_ino)
                if held is not None:
                    yield *held, journal.agent
                held = line
            if held is not None:
                yield *held, journal.agent
        finally:
            os.close(fd)

    def newest(
        self, agent: str | None, owner: str | None
    ) -> Generator[tuple[int, str], None, None]:
        """``(when, session_id)`` of every session a listing may return,
        newest first (``when``: the later of its mtime and its last line's
        ``at``, never below its ``updated_at``), and of some it will not
        (leftovers, sessions erased meanwhile: the caller reads each row). A
        session id met in two agents' journals (a crash's leftover file in
        the other) comes twice."""
        streams = [self._lines(journal) for journal in self.scope(agent, owner)]
        pending: list[tuple[int, str]] = []  # met, not handed out; the newest last
        met: set[tuple[str, str]] = set()
        with contextlib.ExitStack() as stack:
            for stream in streams:
                stack.callback(stream.close)
            for bound, at, session_id, agent_of in heapq.merge(*streams, key=lambda x: -x[0]):
                while pending and pending[-1][0] > bound:
                    yield pending.pop()
                if (agent_of, session_id) in met:
                    continue  # (the first line met is the session's last)
                met.add((agent_of, session_id))
                mtime = self._mtime(agent_of, session_id)
                if mtime is not None:
                    bisect.insort(pending, (max(mtime, at), session_id))
            while pending:
                yield pending.pop()


os.register_at_fork(after_in_child=_after_fork)
