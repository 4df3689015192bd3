"""The replayed state of one JSONL session file, and the queries on it.

:class:`SessionLog` holds what a session file says -- the row, every entry
without its data, where each entry's line is, the leaves and the checkpoints
-- and the byte offset up to which the file has been read. Feeding it the
bytes another process appended brings it up to date without reading the file
again, which is what keeps an append O(1) in the history length. Entry data
stays on disk and is decoded from its line on demand (:func:`attach_data`),
so restore always verifies the bytes the file holds.

The tree is held by position in columns (parent, kind, line, id). A log
restored from a snapshot starts from its header (row, head, leaves), reads
the snapshot's columns a block at a time as queries reach them, and makes
each older entry from its own line, checked against them (:class:`Stale` if
it does not fit: ``docs/design.md``, "File store indexes").

Crash rules: a line without its newline, an unreadable line at the end of the
file, and ``more`` lines without their closing line are a write cut short:
they are not committed, and the writer cuts them off (``committed``) before
its own write. An unreadable line *followed by* a readable one is damage, not
a crash: :class:`IntegrityError`. Nothing here does I/O: a restored log is
handed functions that read its snapshot and its file.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from agentsession._canonical import chain_steps
from agentsession._exceptions import IntegrityError, InvalidInput
from agentsession._models import Checkpoint, Entry, SessionInfo, carrying, evolve
from agentsession.stores.file._format import (
    NO_DATA,
    commit_times,
    decode_checkpoint,
    decode_entry,
    decode_info,
    entry_data,
    entry_record,
    entry_text,
    parse_line,
)

__all__ = ["Block", "SessionLog", "Stale", "attach_data"]

_Pending = tuple[dict[str, Any], int, int]
ROOT = -1  # the parent position of a root entry
UNPLACED = -2  # a parent not in the file when the entry was read (an edited file)
_LOST = "the session file lost an entry of this path"

#: Reads the lines at ``(offset, length)`` spans of the session file.
LineReader = Callable[[Sequence[tuple[int, int]]], list[bytes]]


class Stale(Exception):
    """A snapshot turned out not to fit its session file after its header was
    trusted (a damaged section, a line that is not the entry it should be):
    the call is run again on the file replayed whole. Not an
    :class:`AgentSessionError`: it never leaves the store."""


class Block(NamedTuple):
    """Columns of consecutive entries: parent position, kind number, line
    offset and length, id (what a snapshot saves of the tree, by blocks)."""

    parents: array[int]
    kinds: array[int]
    offsets: array[int]
    lengths: array[int]
    ids: list[str]


def _ints() -> array[int]:
    return array("q")


class SessionLog:
    """Everything one session file says, except entry data."""

    __slots__ = (
        "_base",
        "_block_size",
        "_blocks",
        "_cache",
        "_count",
        "_ids",
        "_info",
        "_kind_names",
        "_kind_numbers",
        "_kinds",
        "_lengths",
        "_lines",
        "_offsets",
        "_orphans",
        "_parents",
        "_pending",
        "_points",
        "_points_base",
        "_positions",
        "_read_block",
        "_torn",
        "_whole",
        "committed",
        "leaves",
    )

    def __init__(self) -> None:
        self._info: SessionInfo | None = None
        self.leaves: dict[str, None] = {}
        self._points: dict[str, Checkpoint] = {}
        #: the checkpoints still in the snapshot (with their entries'
        #: positions), read when first asked for.
        self._points_base: Callable[[], list[tuple[Checkpoint, int]]] | None = None
        #: bytes of the file up to the end of the last committed line.
        self.committed = 0
        self._pending: list[_Pending] = []
        self._torn = False
        # The columns (see the module docstring): the first ``_base`` entries
        # are a snapshot's, read a block at a time (``_blocks``); these hold
        # the entries after them.
        self._count = self._base = 0
        self._parents, self._kinds = _ints(), _ints()
        self._offsets, self._lengths = _ints(), _ints()
        self._ids: list[str] = []
        self._block_size = 1
        self._blocks: list[Block | None] = []
        self._read_block: Callable[[int], Block] | None = None
        self._lines: LineReader | None = None  # a restored log's older entries
        self._kind_names: list[str] = []
        self._kind_numbers: dict[str, int] = {}
        #: id -> position: every id once ``_whole``, else those used so far.
        self._positions: dict[str, int] = {}
        self._whole = True
        self._cache: dict[int, Entry] = {}  # entries made so far, without data
        self._orphans: dict[int, str] = {}  # position -> parent id (UNPLACED)

    @classmethod
    def restored(
        cls,
        info: SessionInfo,
        *,
        committed: int,
        count: int,
        kinds: Sequence[str],
        leaves: Sequence[tuple[str, int]],
        known: Sequence[tuple[str, int]],
        block_size: int,
        blocks: Callable[[int], Block],
        checkpoints: Callable[[], list[tuple[Checkpoint, int]]],
        lines: LineReader,
    ) -> SessionLog:
        """The state a snapshot saved: the row and the positions of the
        leaves (and ``known`` ids, the head's) now; the columns of the
        entries, ``block_size`` at a time, and the checkpoints from the
        functions, the first time they are needed."""
        log = cls()
        log._info = info
        log.committed = committed
        log._count = log._base = count
        log._block_size = block_size
        log._blocks = [None] * -(-count // block_size)
        log._read_block = blocks
        log._points_base = checkpoints
        log._lines = lines
        log._kind_names = list(kinds)
        log._kind_numbers = {name: n for n, name in enumerate(kinds)}
        log.leaves = {entry_id: None for entry_id, _ in leaves}
        log._positions = {entry_id: n for entry_id, n in (*known, *leaves)}
        log._whole = not count
        return log

    @property
    def info(self) -> SessionInfo:
        if self._info is None:
            raise IntegrityError("the session file holds no session record")
        return self._info

    @property
    def loaded(self) -> bool:
        return self._info is not None

    @property
    def restoring(self) -> bool:
        """Whether part of a snapshot is still to be read."""
        return self._points_base is not None or None in self._blocks

    @property
    def count(self) -> int:
        """How many entry lines the file holds (up to ``committed``)."""
        return self._count

    # -- replay ----------------------------------------------------------------

    def resume(self) -> None:
        """Forget uncommitted lines: the next :meth:`feed` starts at ``committed``."""
        self._pending = []
        self._torn = False

    def feed(self, data: bytes, offset: int) -> int:
        """Replay the complete lines of ``data``, which starts at file ``offset``.
        Returns how many bytes were whole lines (the rest awaits more data)."""
        pos = 0
        find = data.find
        while (end := find(b"\n", pos)) >= 0:
            self._line(data[pos:end], offset + pos, end + 1 - pos)
            pos = end + 1
        return pos

    def _line(self, raw: bytes, offset: int, length: int) -> None:
        record = parse_line(raw)
        if record is None:
            self._torn = True  # a crash's leftover if nothing readable follows
            return
        if self._torn:
            raise IntegrityError("an unreadable line in the middle of the session file")
        self._pending.append((record, offset, length))
        if record.get("more") is not True:
            group, self._pending = self._pending, []
            try:
                self._apply(group)
            except (KeyError, TypeError, ValueError) as exc:
                raise IntegrityError(f"malformed record in the session file ({exc!r})") from exc
            self.committed = offset + length

    def _apply(self, group: list[_Pending]) -> None:
        *batch, (last, offset, length) = group
        for record, at_offset, at_length in batch:
            self._add(record, at_offset, at_length)
        op = record_op(last)
        if op == "session":
            self.set_info(decode_info(last))
            return
        at, expires_at = commit_times(last)
        if op == "entry":
            entry = decode_entry(last)
            self.add_entry(entry, offset, length)
            self.bump(at, expires_at, head=entry.id, message_count=entry.message_index)
        elif op == "head":
            self.move_head(last["head"], at, expires_at)
        elif op == "checkpoint":
            self._add(last, offset, length)
            self.bump(at, expires_at, last_checkpoint_at=at)
        elif op == "metadata":
            self.merge_metadata(last["patch"], at, expires_at)
        else:
            raise IntegrityError(f"unknown record {op!r} in the session file")

    def _add(self, record: dict[str, Any], offset: int, length: int) -> None:
        op = record_op(record)
        if op == "session":
            self.set_info(decode_info(record))
        elif op == "entry":
            self.add_entry(decode_entry(record), offset, length)
        elif op == "checkpoint":
            self.add_checkpoint(decode_checkpoint(record, self.info.id))
        else:
            raise IntegrityError(f"record {op!r} cannot be part of a batch")

    # -- state changes (replay and the writer's own lines) ---------------------

    def set_info(self, info: SessionInfo) -> None:
        if self._info is not None and self._info.id != info.id:
            self._points = {
                k: dataclasses.replace(c, session_id=info.id) for k, c in self.checkpoints.items()
            }
        self._info = info

    def add_entry(self, entry: Entry, offset: int, length: int) -> None:
        """Add an entry (its data is not kept) whose line is at ``offset``."""
        n = self._count
        parent = entry.parent_id
        if parent is None:
            self._parents.append(ROOT)
        else:
            found = self.find(parent)
            if found is None:
                self._orphans[n] = parent
            self._parents.append(UNPLACED if found is None else found)
            self.leaves.pop(parent, None)
            if entry.checksum is None and found is not None:
                # A line written before path checksums: its checksum from
                # its parent's, when the replay holds that.
                above = self._cache.get(found)
                if above is not None and above.checksum is not None:
                    [checksum] = chain_steps([entry.digest], above.checksum)
                    entry = dataclasses.replace(entry, checksum=checksum)
        if parent is None and entry.checksum is None:
            [checksum] = chain_steps([entry.digest], None)
            entry = dataclasses.replace(entry, checksum=checksum)
        kind = self._kind_numbers.get(entry.kind)
        if kind is None:
            kind = self._kind_numbers[entry.kind] = len(self._kind_names)
            self._kind_names.append(entry.kind)
        self._kinds.append(kind)
        self._offsets.append(offset)
        self._lengths.append(length)
        self._ids.append(entry.id)
        self._positions[entry.id] = n
        self._cache[n] = entry if entry.data is NO_DATA else carrying(entry, NO_DATA)
        self._count = n + 1
        self.leaves[entry.id] = None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._points[checkpoint.id] = checkpoint

    def bump(self, at: datetime, expires_at: datetime | None, **changes: Any) -> SessionInfo:
        info = self.info
        self._info = evolve(
            info, revision=info.revision + 1, updated_at=at, expires_at=expires_at, **changes
        )
        return self._info

    def move_head(self, head: str | None, at: datetime, expires_at: datetime | None) -> None:
        count = 0 if head is None else self.entry_or_fail(head).message_index
        self.bump(at, expires_at, head=head, message_count=count)

    def merge_metadata(
        self, patch: Mapping[str, Any], at: datetime, expires_at: datetime | None
    ) -> None:
        if not isinstance(patch, Mapping):
            raise TypeError("a metadata patch must be an object")
        self.bump(at, expires_at, metadata={**self.info.metadata, **patch})

    # -- the columns ---------------------------------------------------------------

    def _block(self, n: int) -> tuple[Block, int]:
        """The snapshot's block holding position ``n`` (< ``_base``), and where in it."""
        number, at = divmod(n, self._block_size)
        block = self._blocks[number]
        if block is None:
            assert self._read_block is not None
            block = self._blocks[number] = self._read_block(number)
        return block, at

    def _row(self, n: int) -> tuple[int, int, int, int, str]:
        """Parent position, kind number, line offset and length, and id of
        the entry at ``n``."""
        base = self._base
        if n >= base:
            i = n - base
            return (
                self._parents[i],
                self._kinds[i],
                self._offsets[i],
                self._lengths[i],
                self._ids[i],
            )
        block, at = self._block(n)
        return (
            block.parents[at],
            block.kinds[at],
            block.offsets[at],
            block.lengths[at],
            block.ids[at],
        )

    def _index(self) -> dict[str, int]:
        """Every id's position (read from the columns once)."""
        if not self._whole:
            positions: dict[str, int] = {}
            size = self._block_size
            for number in range(len(self._blocks)):
                ids = self._block(number * size)[0].ids
                first = number * size
                positions.update(zip(ids, range(first, first + len(ids)), strict=True))
            positions.update(zip(self._ids, range(self._base, self._count), strict=True))
            self._positions = positions
            self._whole = True
        return self._positions

    def find(self, entry_id: str) -> int | None:
        """The position of entry ``entry_id`` (the last, were an id written twice)."""
        n = self._positions.get(entry_id)
        return self._index().get(entry_id) if n is None else n

    def entries_at(self, positions: Sequence[int]) -> list[Entry]:
        """The entries at ``positions``, without their data."""
        cache = self._cache
        missing = [n for n in positions if n not in cache]
        if missing:
            self._make(missing)
        return [cache[n] for n in positions]

    def _make(self, positions: list[int]) -> None:
        """Make older entries of a restored log from their lines."""
        if self._lines is None:
            raise IntegrityError(_LOST)  # (a replayed log holds every entry)
        rows = [self._row(n) for n in positions]
        lines = self._lines([(offset, length) for _, _, offset, length, _ in rows])
        for n, (parent, kind, _, _, entry_id), line in zip(positions, rows, lines, strict=True):
            record = entry_record(line, entry_id)
            if record is None:
                raise Stale("an entry is not where the snapshot says")
            try:
                entry = decode_entry(record)
            except (KeyError, TypeError, ValueError) as exc:
                raise Stale("an entry line the snapshot points at is damaged") from exc
            expected = self._row(parent)[4] if parent >= 0 else None
            if entry.parent_id != expected or entry.kind != self._kind_names[kind]:
                raise Stale("an entry is not what the snapshot says")
            self._cache[n] = entry
            self._positions.setdefault(entry_id, n)

    def columns(self) -> Block:
        """Every entry's columns (for a snapshot)."""
        parents, kinds, offsets, lengths = _ints(), _ints(), _ints(), _ints()
        ids: list[str] = []
        size = self._block_size
        for number in range(len(self._blocks)):
            block = self._block(number * size)[0]
            parents.extend(block.parents)
            kinds.extend(block.kinds)
            offsets.extend(block.offsets)
            lengths.extend(block.lengths)
            ids.extend(block.ids)
        parents.extend(self._parents)
        kinds.extend(self._kinds)
        offsets.extend(self._offsets)
        lengths.extend(self._lengths)
        return Block(parents, kinds, offsets, lengths, ids + self._ids)

    @property
    def kind_names(self) -> list[str]:
        return self._kind_names

    @property
    def orphans(self) -> bool:
        """Whether an entry came before its parent in the file (an edit)."""
        return bool(self._orphans)

    # -- queries -----------------------------------------------------------------

    @property
    def checkpoints(self) -> dict[str, Checkpoint]:
        if self._points_base is not None:
            read, self._points_base = self._points_base, None
            saved = {}
            for point, n in read():
                saved[point.id] = point
                if point.entry_id is not None and 0 <= n < self._base:
                    self._positions.setdefault(point.entry_id, n)  # (restore looks it up)
            saved.update(self._points)
            self._points = saved
        return self._points

    def get(self, entry_id: str) -> Entry | None:
        n = self.find(entry_id)
        return None if n is None else self.entries_at([n])[0]

    def entry(self, entry_id: str) -> Entry:
        found = self.get(entry_id)
        if found is None:
            raise InvalidInput("unknown entry id for this session")
        return found

    def entry_or_fail(self, entry_id: str) -> Entry:
        """An entry the file must hold (a head, a leaf): damage if it does not."""
        found = self.get(entry_id)
        if found is None:
            raise IntegrityError(_LOST)
        return found

    def span(self, entry_id: str) -> tuple[int, int]:
        """Offset and length of an entry's line."""
        n = self.find(entry_id)
        if n is None:
            raise IntegrityError(_LOST)
        _, _, offset, length, _ = self._row(n)
        return offset, length

    def everything(self) -> list[Entry]:
        """Every entry once (an id written twice: its last line), in file order."""
        last = sorted(self._index().values())
        return self.entries_at(last)

    def walk(
        self, cursor: str | None, limit: int | None = None, kind: str | None = None
    ) -> list[Entry]:
        """The path root -> ``cursor`` (only ``kind``; the last ``limit``), oldest first."""
        if cursor is None or (limit is not None and limit <= 0):
            return []
        n = self.find(cursor)
        if n is None:
            raise IntegrityError(_LOST)
        wanted = None if kind is None else self._kind_numbers.get(kind, -1)
        base, parents, kinds = self._base, self._parents, self._kinds
        picked: list[int] = []
        while n >= 0:
            if n >= base:  # (read after the snapshot, or no snapshot: the lists)
                this, parent = kinds[n - base], parents[n - base]
            else:
                block, at = self._block(n)
                this, parent = block.kinds[at], block.parents[at]
            if wanted is None or this == wanted:
                picked.append(n)
                if len(picked) == limit:
                    break
            if parent == UNPLACED:
                found = self.find(self._orphans[n])
                if found is None:
                    raise IntegrityError(_LOST)
                parent = found
            n = parent
        picked.reverse()
        return self.entries_at(picked)


def record_op(record: Mapping[str, Any]) -> str:
    op = record.get("op")
    if not isinstance(op, str):
        raise IntegrityError("a record without an op in the session file")
    return op


def attach_data(
    entries: Sequence[Entry], lines: Sequence[bytes], lazy: bool = False
) -> list[Entry]:
    """``entries`` with their data decoded from their ``lines`` (one each). A
    line that is not that entry's means the file was changed behind the
    store's back. ``lazy``: the data as its text on the line, decoded on first
    use (a path read to be verified)."""
    read = entry_text if lazy else entry_data
    result = []
    for entry, line in zip(entries, lines, strict=True):
        data = read(line, entry.id)
        if data is None:
            raise IntegrityError("the session file was changed behind the store's back")
        result.append(carrying(entry, data))
    return result
