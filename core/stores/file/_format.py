"""The lines of a JSONL session file: how each record is written and read back.

A session lives in ``<base>/<agent>/<session_id>.jsonl``, an append-only log
with one JSON object per line, replayed when the file is opened. Records
(the ``"op"`` key):

============  ==============================================================
``session``   the whole row: the first line, and the last line of an import
              or a rotation
``entry``     one tree entry; ``data`` is its canonical JSON text, verbatim;
              ``checksum`` its path checksum (absent on lines written
              before the store kept it)
``head``      the head moved (restore, switch, pop, clear)
``checkpoint`` a checkpoint was taken
``metadata``  a metadata patch, shallow-merged into the row
============  ==============================================================

Each line is one mutation (revision + 1) and carries ``at`` (the new
``updated_at``) and ``expires_at``, except lines marked ``"more":true``: those
belong to the next unmarked line and take effect with it, so a batch that one
``write`` puts on disk (``extend``, an import) is all or nothing.

Nothing here does I/O; :mod:`agentsession.stores.file._log` replays the records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from agentsession._canonical import StoredJSON
from agentsession._exceptions import IntegrityError
from agentsession._models import Checkpoint, Entry, SessionInfo

__all__ = [
    "FORMAT_VERSION",
    "NO_DATA",
    "checkpoint_line",
    "commit_times",
    "decode_checkpoint",
    "decode_entry",
    "decode_info",
    "entry_data",
    "entry_lines",
    "entry_record",
    "head_line",
    "metadata_line",
    "owner_key",
    "parse_line",
    "parse_time",
    "session_line",
    "time_ns",
]

FORMAT_VERSION: Final = 1
MORE: Final = ',"more":true'

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)
_decoder = json.JSONDecoder()
_decode = _decoder.decode
_raw_decode = _decoder.raw_decode
_DATA_KEY: Final = ',"data":'
#: the data of an entry held without it (read from the file on demand).
NO_DATA: Final[Mapping[str, Any]] = MappingProxyType({})
# Lines are UTF-8. The one thing UTF-8 cannot hold, a lone surrogate, can only
# sit inside a JSON string, where "\\udxxx" (what backslashreplace writes) is
# the JSON escape of that very character: it reads back unchanged.
_UTF8: Final = ("utf-8", "backslashreplace")


def time_ns(moment: datetime) -> int:
    """An aware datetime as integer nanoseconds since the epoch (exact)."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


def owner_key(user_id: str | None) -> str:
    """The directory name standing for an owner: never the raw user id."""
    if user_id is None:
        return "anonymous"
    return hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _j(value: Any) -> str:
    return _encoder.encode(value)


def _t(moment: datetime | None) -> str:
    return "null" if moment is None else '"' + moment.isoformat() + '"'


def _commit(at: datetime, expires_at: datetime | None) -> str:
    return f',"at":{_t(at)},"expires_at":{_t(expires_at)}'


def session_line(info: SessionInfo, *, more: bool = False) -> bytes:
    """The whole row (creation, or the closing line of an import/rotation)."""
    fields = (
        f'{{"op":"session","v":{FORMAT_VERSION},"id":{_j(info.id)},"agent":{_j(info.agent)},'
        f'"user_id":{_j(info.user_id)},"created_at":{_t(info.created_at)},'
        f'"updated_at":{_t(info.updated_at)},"head":{_j(info.head)},'
        f'"message_count":{info.message_count},"revision":{info.revision},'
        f'"expires_at":{_t(info.expires_at)},"deadline":{_t(info.deadline)},'
        f'"idle_timeout":{_j(info.idle_timeout)},"max_messages":{_j(info.max_messages)},'
        f'"last_checkpoint_at":{_t(info.last_checkpoint_at)}{MORE if more else ""},'
        f'"metadata":{_j(dict(info.metadata))}}}\n'
    )
    return fields.encode(*_UTF8)


def _entry_line(entry: Entry, data_json: str, tail: str) -> bytes:
    checksum = "" if entry.checksum is None else f',"checksum":{_j(entry.checksum)}'
    return (
        f'{{"op":"entry","id":{_j(entry.id)},"parent_id":{_j(entry.parent_id)},'
        f'"kind":{_j(entry.kind)},"created_at":{_t(entry.created_at)},"depth":{entry.depth},'
        f'"message_index":{entry.message_index},"digest":{_j(entry.digest)}{checksum}{tail},'
        f'"data":{data_json}}}\n'
    ).encode(*_UTF8)


def entry_lines(
    entries: Sequence[Entry],
    data_json: Sequence[str],
    *,
    at: datetime | None,
    expires_at: datetime | None,
) -> list[bytes]:
    """One line per entry; the last commits the batch (``at=None``: none does)."""
    tails = [MORE] * len(entries)
    if at is not None and tails:
        tails[-1] = _commit(at, expires_at)
    return [
        _entry_line(entry, text, tail)
        for entry, text, tail in zip(entries, data_json, tails, strict=True)
    ]


def head_line(head: str | None, *, at: datetime, expires_at: datetime | None) -> bytes:
    return f'{{"op":"head","head":{_j(head)}{_commit(at, expires_at)}}}\n'.encode(*_UTF8)


def checkpoint_line(
    checkpoint: Checkpoint, *, at: datetime | None, expires_at: datetime | None
) -> bytes:
    """A checkpoint record; ``at=None`` marks it part of the next line's batch."""
    tail = MORE if at is None else _commit(at, expires_at)
    return (
        f'{{"op":"checkpoint","id":{_j(checkpoint.id)},"entry_id":{_j(checkpoint.entry_id)},'
        f'"created_at":{_t(checkpoint.created_at)},"name":{_j(checkpoint.name)},'
        f'"checksum":{_j(checkpoint.checksum)}{tail},'
        f'"metadata":{_j(dict(checkpoint.metadata))}}}\n'
    ).encode(*_UTF8)


def metadata_line(patch: Mapping[str, Any], *, at: datetime, expires_at: datetime | None) -> bytes:
    return (f'{{"op":"metadata"{_commit(at, expires_at)},"patch":{_j(dict(patch))}}}\n').encode(
        *_UTF8
    )


# -- reading -----------------------------------------------------------------


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The record on one line, or ``None`` if the bytes are not a JSON object
    (a write cut short by a crash, or damage)."""
    try:
        record = _decode(line.decode("utf-8"))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return record if isinstance(record, dict) else None


def _data_span(line: bytes, entry_id: str) -> tuple[str, int] | None:
    """The line as text and where its data starts, if this module wrote it as
    entry ``entry_id``'s line: such lines put ``data`` last, after keys whose
    values hold no unescaped quote, so the first ``,"data":`` starts it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith('{"op":"entry","id":"' + entry_id + '",') and text.endswith("}\n"):
        start = text.find(_DATA_KEY)
        if start > 0:
            return text, start + len(_DATA_KEY)
    return None


def entry_text(line: bytes, entry_id: str) -> Mapping[str, Any] | None:
    """:func:`entry_data`, undecoded where this module wrote the line: the text
    between ``,"data":`` and the closing brace (a digest of it proves the
    stored bytes). A line written any other way is decoded by :func:`entry_data`."""
    span = _data_span(line, entry_id)
    if span is not None:
        return StoredJSON(span[0][span[1] : -2])
    return entry_data(line, entry_id)


def entry_record(line: bytes, entry_id: str) -> dict[str, Any] | None:
    """The record on the line of entry ``entry_id``, or ``None`` if the line is
    not that entry's. On a line this module wrote only what comes before the
    data is decoded (the record then has no ``data``: :func:`decode_entry`
    does not need it)."""
    span = _data_span(line, entry_id)
    if span is not None:
        text, start = span
        try:
            record = _decode(text[: start - len(_DATA_KEY)] + "}")
        except ValueError:
            record = None
        if isinstance(record, dict):
            return record
    record = parse_line(line)
    if record is None or record.get("op") != "entry" or record.get("id") != entry_id:
        return None
    return record


def entry_data(line: bytes, entry_id: str) -> dict[str, Any] | None:
    """The data on the line of entry ``entry_id``, or ``None`` if the line is
    not that entry's (the file was changed behind the store's back). Only the
    data is decoded on a line this module wrote; a line written any other way
    (an edit) is parsed whole."""
    span = _data_span(line, entry_id)
    if span is not None:
        text, start = span
        try:
            data, end = _raw_decode(text, start)
        except ValueError:
            end = 0
        if end == len(text) - 2 and isinstance(data, dict):
            return data
    record = parse_line(line)
    if record is None or record.get("op") != "entry" or record.get("id") != entry_id:
        return None
    data = record.get("data")
    return data if isinstance(data, dict) else None


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("a time must be an ISO 8601 string")
    return datetime.fromisoformat(value)


def _need_dt(value: Any) -> datetime:
    moment = _dt(value)
    if moment is None:
        raise TypeError("a time is missing")
    return moment


def parse_time(value: Any) -> datetime:
    """A time as the lines hold it (ISO 8601 text)."""
    return _need_dt(value)


def commit_times(record: Mapping[str, Any]) -> tuple[datetime, datetime | None]:
    """``(at, expires_at)`` of a record that ends a mutation."""
    return _need_dt(record["at"]), _dt(record["expires_at"])


def decode_entry(record: Mapping[str, Any]) -> Entry:
    """The entry of an ``entry`` record, without its data (read on demand).
    A line written before path checksums has no ``checksum``: ``None``."""
    checksum = record.get("checksum")
    return Entry(
        id=record["id"],
        parent_id=record["parent_id"],
        kind=record["kind"],
        created_at=_need_dt(record["created_at"]),
        data=NO_DATA,
        depth=int(record["depth"]),
        message_index=int(record["message_index"]),
        digest=record["digest"],
        checksum=checksum if isinstance(checksum, str) else None,
    )


def decode_info(record: Mapping[str, Any]) -> SessionInfo:
    if record.get("v") != FORMAT_VERSION:
        raise IntegrityError(f"session file format {record.get('v')!r} is not supported")
    metadata = record["metadata"]
    if not isinstance(metadata, dict):
        raise TypeError("metadata must be an object")
    idle = record["idle_timeout"]
    return SessionInfo(
        id=record["id"],
        agent=record["agent"],
        user_id=record["user_id"],
        created_at=_need_dt(record["created_at"]),
        updated_at=_need_dt(record["updated_at"]),
        metadata=metadata,
        head=record["head"],
        message_count=int(record["message_count"]),
        revision=int(record["revision"]),
        expires_at=_dt(record["expires_at"]),
        deadline=_dt(record["deadline"]),
        idle_timeout=None if idle is None else float(idle),
        max_messages=record["max_messages"],
        last_checkpoint_at=_dt(record["last_checkpoint_at"]),
    )


def decode_checkpoint(record: Mapping[str, Any], session_id: str) -> Checkpoint:
    metadata = record["metadata"]
    if not isinstance(metadata, dict):
        raise TypeError("checkpoint metadata must be an object")
    return Checkpoint(
        id=record["id"],
        session_id=session_id,
        entry_id=record["entry_id"],
        created_at=_need_dt(record["created_at"]),
        name=record["name"],
        metadata=metadata,
        checksum=record["checksum"],
    )
