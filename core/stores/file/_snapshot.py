"""A session file's replayed state, saved so that a new process reads it
instead of replaying the whole file (``docs/design.md``, "File store indexes").

One file per session, ``<base>/.snapshots/<session_id>``::

    agentsession-snapshot 1 <CRC-32 of the header, 8 hex digits> <header>\\n
    <entries section><checkpoints section>

The header (one JSON object) says which session file the state is of, and
up to where: its device and inode, ``end`` (the offset of a committed line
boundary) and the CRC-32s of its first and last 4 KiB below ``end``. It holds
the row (a ``session`` record), the entries' kinds, how many entries there
are, the positions of the head and the leaves, and where each section is,
with its CRC-32. The entries section is the tree: four int64 columns in the
byte order the header names (parent position, kind, offset and length of the
entry's line), where each id starts in the ids text (one more int64 column),
and the ids text (newline-joined ASCII). Everything else about an entry is on
its line. The checkpoints section is their lines as the session file writes
them.

Nothing here does I/O: :mod:`agentsession.stores.file._handles` writes the
files, reads them and checks a header against the session file before
trusting it; the sections are read (and their CRC-32 checked) the first time
a query needs them.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import zlib
from array import array
from typing import Any, Final

from agentsession._exceptions import AgentSessionError
from agentsession._models import Checkpoint, SessionInfo
from agentsession.stores.file._format import (
    checkpoint_line,
    decode_checkpoint,
    decode_info,
    parse_line,
    session_line,
)
from agentsession.stores.file._log import Columns, Ids, SessionLog, Stale

__all__ = [
    "EDGE",
    "Header",
    "decode_checkpoints",
    "decode_columns",
    "decode_header",
    "edges",
    "encode",
]

MAGIC: Final = b"agentsession-snapshot 1 "
#: bytes of the session file at each end of ``[0, end)`` whose CRC-32 the header keeps.
EDGE: Final = 4096


@dataclasses.dataclass(frozen=True)
class Header:
    device: int
    inode: int
    end: int
    front: int
    back: int
    info: SessionInfo
    count: int
    kinds: list[str]
    leaves: list[tuple[str, int]]
    known: list[tuple[str, int]]
    #: (offset, length, CRC-32) of each section in the snapshot file.
    entries: tuple[int, int, int]
    checkpoints: tuple[int, int, int]
    #: the byte length of the ids text in the entries section.
    ids: int


def edges(end: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(offset, length)`` of the two stretches of ``[0, end)`` the header checks."""
    front = min(end, EDGE)
    back = min(end, EDGE)
    return (0, front), (end - back, back)


def encode(log: SessionLog, *, device: int, inode: int, front: int, back: int) -> bytes | None:
    """The snapshot of ``log`` as of ``log.committed``; ``None`` where the file
    cannot have one (an edit put an entry before its parent, or made an id
    that is not ASCII text without a newline)."""
    if log.orphans:
        return None
    columns = log.columns()
    ids, starts = columns.ids.packed()
    if not Ids.fits(ids, starts):
        return None
    ints = b"".join(getattr(columns, name).tobytes() for name in Columns.INTS)
    entries = b"".join((ints, starts.tobytes(), ids))
    points = b"".join(
        checkpoint_line(c, at=None, expires_at=None) for c in log.checkpoints.values()
    )
    info = log.info
    positions = [(leaf, log.find(leaf)) for leaf in log.leaves]
    head = [] if info.head is None else [(info.head, log.find(info.head))]
    fields = {
        "order": sys.byteorder,
        "device": device,
        "inode": inode,
        "end": log.committed,
        "front": front,
        "back": back,
        "count": log.count,
        "kinds": log.kind_names,
        "leaves": positions,
        "known": head,
        "ids": len(ids),
        "sections": [
            [0, len(entries), zlib.crc32(entries)],
            [len(entries), len(points), zlib.crc32(points)],
        ],
    }
    row = session_line(info).rstrip(b"\n")
    text = json.dumps(fields, separators=(",", ":")).encode("ascii")[:-1] + b',"info":' + row
    text += b"}"
    return b"".join((MAGIC, b"%08x " % zlib.crc32(text), text, b"\n", entries, points))


def _pairs(value: Any) -> list[tuple[str, int]]:
    if not isinstance(value, list):
        raise TypeError("a list of pairs")
    pairs = []
    for item in value:
        entry_id, n = item
        if not isinstance(entry_id, str) or type(n) is not int:
            raise TypeError("an id and a position")
        pairs.append((entry_id, n))
    return pairs


def _numbers(value: Any, size: int) -> list[int]:
    if not isinstance(value, list) or len(value) != size:
        raise TypeError("a list of numbers")
    if not all(type(v) is int and v >= 0 for v in value):
        raise TypeError("a list of numbers")
    return value


def decode_header(line: bytes) -> tuple[Header, int] | None:
    """The header at the start of a snapshot file and the offset its sections
    count from; ``None`` if it is not one this version wrote, or damaged."""
    end = line.find(b"\n")
    if not line.startswith(MAGIC) or end < 0:
        return None
    start = len(MAGIC) + 9
    text = line[start:end]
    try:
        if int(line[len(MAGIC) : start - 1], 16) != zlib.crc32(text):
            return None
        fields = json.loads(text)
        if fields.get("order") != sys.byteorder:
            return None  # written on a machine of the other byte order
        entries, points = (_numbers(s, 3) for s in fields["sections"])
        count = fields["count"]
        kinds = fields["kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise TypeError("kinds must be names")
        header = Header(
            device=fields["device"],
            inode=fields["inode"],
            end=fields["end"],
            front=fields["front"],
            back=fields["back"],
            info=decode_info(fields["info"]),
            count=count,
            kinds=kinds,
            leaves=_pairs(fields["leaves"]),
            known=_pairs(fields["known"]),
            entries=(entries[0], entries[1], entries[2]),
            checkpoints=(points[0], points[1], points[2]),
            ids=fields["ids"],
        )
        numbers = (
            *(header.device, header.inode, header.end, header.front, header.back),
            *(count, header.ids),
        )
        if not all(type(v) is int and v >= 0 for v in numbers):
            raise TypeError("a count or an offset")
        if any(not 0 <= n < count for _, n in (*header.leaves, *header.known)):
            raise ValueError("a position outside the entries")
    except (AgentSessionError, KeyError, TypeError, ValueError):
        return None
    return header, end + 1


def decode_columns(section: bytes, header: Header) -> Columns:
    """The entries section, checked against its CRC-32 (else :class:`Stale`)."""
    _, length, crc = header.entries
    count = header.count
    width = 8 * count
    ints = len(Columns.INTS) * width
    if len(section) != length or zlib.crc32(section) != crc:
        raise Stale("a damaged snapshot")
    if length != ints + width + 8 + header.ids:
        raise Stale("a damaged snapshot")
    columns = []
    for n in range(len(Columns.INTS) + 1):
        column = array("q")
        column.frombytes(section[n * width : (n + 1) * width + (8 if n == 4 else 0)])
        columns.append(column)
    text = section[ints + width + 8 :]
    parents, kinds, offsets, lengths, starts = columns
    if not Ids.fits(text, starts):
        raise Stale("a damaged snapshot")
    return Columns(parents, kinds, offsets, lengths, Ids(text, starts))


def decode_checkpoints(section: bytes, header: Header) -> list[Checkpoint]:
    """The checkpoints section, checked against its CRC-32 (else :class:`Stale`)."""
    _, length, crc = header.checkpoints
    if len(section) != length or zlib.crc32(section) != crc:
        raise Stale("a damaged snapshot")
    points = []
    for line in section.splitlines():
        record = parse_line(line)
        if record is None or record.get("op") != "checkpoint":
            raise Stale("a damaged snapshot")
        try:
            points.append(decode_checkpoint(record, header.info.id))
        except (KeyError, TypeError, ValueError) as exc:
            raise Stale("a damaged snapshot") from exc
    return points
