"""The replayed state of one JSONL session file, and the queries on it.

:class:`SessionLog` holds what a session file says -- the row, every entry
without its data, where each entry's line is, the leaves and the checkpoints
-- and the byte offset up to which the file has been read. Feeding it the
bytes another process appended brings it up to date without reading the file
again, which is what keeps an append O(1) in the history length. Entry data
stays on disk and is decoded from its line on demand (:func:`attach_data`),
so restore always verifies the bytes the file holds.

Crash rules: a line without its newline, an unreadable line at the end of the
file, and ``more`` lines without their closing line are a write cut short:
they are not committed, and the writer cuts them off (``committed``) before
its own write. An unreadable line *followed by* a readable one is damage, not
a crash: :class:`IntegrityError`.

Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agentsession._exceptions import IntegrityError, InvalidInput
from agentsession._models import Checkpoint, Entry, SessionInfo, carrying, evolve
from agentsession.stores.file._format import (
    commit_times,
    decode_checkpoint,
    decode_entry,
    decode_info,
    entry_data,
    entry_text,
    parse_line,
)

__all__ = ["SessionLog", "attach_data"]

_Pending = tuple[dict[str, Any], int, int]


class SessionLog:
    """Everything one session file says, except entry data."""

    __slots__ = (
        "_info",
        "_pending",
        "_torn",
        "checkpoints",
        "committed",
        "entries",
        "leaves",
        "spans",
    )

    def __init__(self) -> None:
        self._info: SessionInfo | None = None
        self.entries: dict[str, Entry] = {}
        self.spans: dict[str, tuple[int, int]] = {}
        self.leaves: dict[str, None] = {}
        self.checkpoints: dict[str, Checkpoint] = {}
        #: bytes of the file up to the end of the last committed line.
        self.committed = 0
        self._pending: list[_Pending] = []
        self._torn = False

    @property
    def info(self) -> SessionInfo:
        if self._info is None:
            raise IntegrityError("the session file holds no session record")
        return self._info

    @property
    def loaded(self) -> bool:
        return self._info is not None

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
            self.checkpoints = {
                k: dataclasses.replace(c, session_id=info.id) for k, c in self.checkpoints.items()
            }
        self._info = info

    def add_entry(self, entry: Entry, offset: int, length: int) -> None:
        self.entries[entry.id] = entry
        self.spans[entry.id] = (offset, length)
        if entry.parent_id is not None:
            self.leaves.pop(entry.parent_id, None)
        self.leaves[entry.id] = None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoints[checkpoint.id] = checkpoint

    def bump(self, at: datetime, expires_at: datetime | None, **changes: Any) -> SessionInfo:
        info = self.info
        self._info = evolve(
            info, revision=info.revision + 1, updated_at=at, expires_at=expires_at, **changes
        )
        return self._info

    def move_head(self, head: str | None, at: datetime, expires_at: datetime | None) -> None:
        count = 0 if head is None else self.entries[head].message_index
        self.bump(at, expires_at, head=head, message_count=count)

    def merge_metadata(
        self, patch: Mapping[str, Any], at: datetime, expires_at: datetime | None
    ) -> None:
        if not isinstance(patch, Mapping):
            raise TypeError("a metadata patch must be an object")
        self.bump(at, expires_at, metadata={**self.info.metadata, **patch})

    # -- queries -----------------------------------------------------------------

    def entry(self, entry_id: str) -> Entry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise InvalidInput("unknown entry id for this session") from None

    def walk(
        self, cursor: str | None, limit: int | None = None, kind: str | None = None
    ) -> list[Entry]:
        """The path root -> ``cursor`` (only ``kind``; the last ``limit``), oldest first."""
        entries = self.entries
        path: list[Entry] = []
        while cursor is not None and (limit is None or len(path) < limit):
            entry = entries.get(cursor)
            if entry is None:
                raise IntegrityError("the session file lost an entry of this path")
            if kind is None or entry.kind == kind:
                path.append(entry)
            cursor = entry.parent_id
        path.reverse()
        return path


def record_op(record: Mapping[str, Any]) -> str:
    op = record.get("op")
    if not isinstance(op, str):
        raise IntegrityError("a record without an op in the session file")
    return op


def attach_data(
    entries: Sequence[Entry],
    spans: Mapping[str, tuple[int, int]],
    buf: bytes,
    base: int,
    lazy: bool = False,
) -> list[Entry]:
    """``entries`` with their data decoded from their lines in ``buf`` (the file
    from offset ``base``). A line that is not that entry's means the file was
    changed behind the store's back. ``lazy``: the data as its text on the line,
    decoded on first use (a path read to be verified)."""
    read = entry_text if lazy else entry_data
    result = []
    for entry in entries:
        offset, length = spans[entry.id]
        start = offset - base
        data = read(buf[start : start + length], entry.id)
        if data is None:
            raise IntegrityError("the session file was changed behind the store's back")
        result.append(carrying(entry, data))
    return result
