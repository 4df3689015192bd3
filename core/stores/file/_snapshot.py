"""A session file's replayed state, saved so that a new process reads it
instead of replaying the whole file (``docs/design.md``, "File store indexes").

One file per session, ``<base>/.snapshots/<session_id>``::

    agentsession-snapshot 1 <CRC-32 of the header, 8 hex digits> <header>\\n
    <block 0><block 1>...<checkpoints>

The header (one JSON object) says which session file the state is of, and
up to where: its device and inode, ``end`` (the offset of a committed line
boundary) and the CRC-32s of its first and last 4 KiB below ``end``. It holds
the row (a ``session`` record), the entries' kinds, how many entries there
are, the positions of the head and the leaves, and where each part after it
is, with its CRC-32. A block is the tree of up to ``BLOCK`` consecutive
entries: four int64 columns in the byte order the header names (parent
position, kind, offset and length of the entry's line), then their ids,
newline-joined. Everything else about an entry is on its line. The last part
is the checkpoints' lines as the session file writes them, each after the
position of its entry and a space.

Nothing here does I/O: :mod:`agentsession.stores.file._handles` writes the
files, reads them and checks a header against the session file before
trusting it; a part is read (and its CRC-32 checked) the first time a query
needs it.
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
from agentsession.stores.file._log import Block, SessionLog, Stale

__all__ = [
    "BLOCK",
    "EDGE",
    "Header",
    "decode_block",
    "decode_checkpoints",
    "decode_header",
    "edges",
    "encode",
]

MAGIC: Final = b"agentsession-snapshot 1 "
#: bytes of the session file at each end of ``[0, end)`` whose CRC-32 the header keeps.
EDGE: Final = 4096
#: entries a block holds: a query reads (and checks) only the blocks it reaches.
BLOCK: Final = 4096
_INTS: Final = 4


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
    #: entries a block holds; (offset, length, CRC-32) of each block, and of
    #: the checkpoints, after the header line.
    block: int
    blocks: list[tuple[int, int, int]]
    checkpoints: tuple[int, int, int]


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
    parts = []
    where = []
    at = 0
    for start in range(0, log.count, BLOCK):
        stop = min(start + BLOCK, log.count)
        ids = "\n".join(columns.ids[start:stop]).encode("utf-8")
        if not ids.isascii() or ids.count(b"\n") != stop - start - 1:
            return None
        ints = (getattr(columns, name)[start:stop].tobytes() for name in Block._fields[:_INTS])
        part = b"".join((*ints, ids))
        parts.append(part)
        where.append([at, len(part), zlib.crc32(part)])
        at += len(part)
    points = b"".join(
        b"%d %s" % (_position(log, c.entry_id), checkpoint_line(c, at=None, expires_at=None))
        for c in log.checkpoints.values()
    )
    info = log.info
    leaves = [(leaf, log.find(leaf)) for leaf in log.leaves]
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
        "leaves": leaves,
        "known": head,
        "block": BLOCK,
        "blocks": where,
        "checkpoints": [at, len(points), zlib.crc32(points)],
    }
    row = session_line(info).rstrip(b"\n")
    text = json.dumps(fields, separators=(",", ":")).encode("ascii")[:-1] + b',"info":' + row
    text += b"}"
    return b"".join((MAGIC, b"%08x " % zlib.crc32(text), text, b"\n", *parts, points))


def _position(log: SessionLog, entry_id: str | None) -> int:
    found = None if entry_id is None else log.find(entry_id)
    return -1 if found is None else found


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
        blocks = [_numbers(b, 3) for b in fields["blocks"]]
        points = _numbers(fields["checkpoints"], 3)
        count, size = fields["count"], fields["block"]
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
            block=size,
            blocks=[(b[0], b[1], b[2]) for b in blocks],
            checkpoints=(points[0], points[1], points[2]),
        )
        numbers = (header.device, header.inode, header.end, header.front, header.back, count)
        if not all(type(v) is int and v >= 0 for v in numbers):
            raise TypeError("a count or an offset")
        if type(size) is not int or size <= 0 or len(blocks) != -(-count // size):
            raise ValueError("blocks that do not hold the entries")
        if any(not 0 <= n < count for _, n in (*header.leaves, *header.known)):
            raise ValueError("a position outside the entries")
    except (AgentSessionError, KeyError, TypeError, ValueError):
        return None
    return header, end + 1


def decode_block(data: bytes, header: Header, number: int) -> Block:
    """Block ``number``, checked against its CRC-32 (else :class:`Stale`)."""
    _, length, crc = header.blocks[number]
    count = min(header.block, header.count - number * header.block)
    width = 8 * count
    if len(data) != length or zlib.crc32(data) != crc or length < _INTS * width:
        raise Stale("a damaged snapshot")
    columns = []
    for n in range(_INTS):
        column = array("q")
        column.frombytes(data[n * width : (n + 1) * width])
        columns.append(column)
    ids = data[_INTS * width :]
    if not ids.isascii():
        raise Stale("a damaged snapshot")
    split = ids.decode("ascii").split("\n")
    if len(split) != count:
        raise Stale("a damaged snapshot")
    parents, kinds, offsets, lengths = columns
    return Block(parents, kinds, offsets, lengths, split)


def decode_checkpoints(section: bytes, header: Header) -> list[tuple[Checkpoint, int]]:
    """The checkpoints, each with its entry's position (-1: none), checked
    against their CRC-32 (else :class:`Stale`)."""
    _, length, crc = header.checkpoints
    if len(section) != length or zlib.crc32(section) != crc:
        raise Stale("a damaged snapshot")
    points = []
    for line in section.splitlines():
        position, _, text = line.partition(b" ")
        record = parse_line(text)
        if record is None or record.get("op") != "checkpoint":
            raise Stale("a damaged snapshot")
        try:
            points.append((decode_checkpoint(record, header.info.id), int(position)))
        except (KeyError, TypeError, ValueError) as exc:
            raise Stale("a damaged snapshot") from exc
    return points
