"""Values in and out of the PostgreSQL store: JSONB text and result rows (no I/O).

JSONB stores numbers as ``numeric``, which forgets two things canonical JSON
(and so every digest) depends on: a float's exponent form (``1e+16`` reads
back as the integer ``10000000000000000``) and the sign of ``-0.0``.
:func:`pg_json` therefore writes such floats as ``10000000000000000.0`` and
``0.00`` (a scale Python never produces), and :func:`load_pg_json` maps them
back, so canonical JSON of what is read equals what was written -- restore
recomputes digests from the JSONB itself.

Result rows share one layout (``agentsession.stores.postgres._sql`` builds it):
``part, ord, flag``, then eight *slots* that hold an entry, a checkpoint or
the first eight session columns, then the six remaining session columns,
then an entry's path checksum.
Part 0 is the session, 1 an entry, 2 a checkpoint (see :class:`Rows`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from agentsession._canonical import canonical_json, load_object_page
from agentsession._exceptions import InvalidInput
from agentsession._models import Checkpoint, Entry, SessionInfo

__all__ = [
    "Rows",
    "entries_from_slots",
    "entry_from_slots",
    "load_pg_json",
    "param_signature",
    "pg_json",
    "session_from_row",
]

_NEG_ZERO: Final = "0.00"
_plain = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False)


def _parse_float(text: str) -> float:
    return -0.0 if text == _NEG_ZERO else float(text)


_decoder = json.JSONDecoder(parse_float=_parse_float)
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def _exact(value: Any) -> str:
    if isinstance(value, float):
        if value == 0.0 and math.copysign(1.0, value) < 0:
            return _NEG_ZERO
        text = float.__repr__(value)
        return f"{int(value)}.0" if "e+" in text else text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_plain.encode(k)}:{_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_exact(v) for v in value) + "]"
    return _plain.encode(value)


def pg_json(value: Mapping[str, Any], text: str | None = None) -> str:
    """JSON text for a ``jsonb`` parameter that reads back exactly.

    ``text`` is ``value``'s canonical JSON when the caller already has it.
    """
    if text is None:
        text = canonical_json(dict(value))
    if "e+" not in text and "-0.0" not in text:
        return text
    return _exact(value)


def load_pg_json(text: str | None) -> dict[str, Any]:
    """Decode a ``jsonb::text`` column written through :func:`pg_json`."""
    if text is None:
        return {}
    try:
        # The scanner straight away: PostgreSQL's jsonb output has no
        # surrounding whitespace, and decode() would only add regex passes.
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text):
        value = _decoder.decode(text)  # the full path, for its error message
    if not isinstance(value, dict):
        raise InvalidInput("stored JSON is not an object")
    return value


def _width(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        for bits in (16, 32, 64):  # int2 / int4 / int8, else numeric
            if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                return bits
        return "numeric"
    if isinstance(value, list):
        types = frozenset(map(type, value))
        if int not in types:
            return types
        ints = [v for v in value if type(v) is int]
        return types, _width(min(ints)), _width(max(ints))
    return type(value)


def param_signature(params: Mapping[str, Any]) -> tuple[Any, ...]:
    """What decides the parameter types psycopg sends (None vs a value, the
    width of an int, a list's elements): psycopg prepares one server-side
    statement per query *and* types, so the store tracks first uses by this."""
    return tuple(_width(v) for v in params.values())


def _utc(value: datetime | None) -> Any:
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def session_from_row(row: Sequence[Any], at: int = 0) -> SessionInfo:
    """A session from the 14 columns at ``at`` (slots, then the extra six)."""
    i, agent, user, created, meta, count, revision, head = row[at : at + 8]
    updated, expires, deadline, idle, max_messages, checkpointed = row[at + 8 : at + 14]
    return SessionInfo(
        id=i,
        agent=agent,
        user_id=user,
        created_at=_utc(created),
        updated_at=_utc(updated),
        metadata=load_pg_json(meta),
        head=head,
        message_count=count,
        revision=revision,
        expires_at=_utc(expires),
        deadline=_utc(deadline),
        idle_timeout=idle,
        max_messages=max_messages,
        last_checkpoint_at=_utc(checkpointed),
    )


def entry_from_slots(row: Sequence[Any], data: Mapping[str, Any] | None = None) -> Entry:
    """The entry of a part-1 row; its data decoded from the row unless given."""
    i, p, k, c, d, de, m, g = row[3:11]
    if c.tzinfo is not UTC:
        c = c.astimezone(UTC)
    # Positional: this runs once per entry of a path.
    return Entry(i, p, k, c, load_pg_json(d) if data is None else data, de, m, g, row[17])


def entries_from_slots(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    """The entries of part-1 rows, their data decoded as one page."""
    datas = load_object_page([row[7] for row in rows], _scan)
    if datas is None:
        return [entry_from_slots(row) for row in rows]
    return [entry_from_slots(row, data) for row, data in zip(rows, datas, strict=True)]


def _checkpoint_from_slots(row: Sequence[Any], session_id: str) -> Checkpoint:
    i, entry_id, name, created, meta, _, _, checksum = row[3:11]
    return Checkpoint(
        id=i,
        session_id=session_id,
        entry_id=entry_id,
        created_at=_utc(created),
        name=name,
        metadata=load_pg_json(meta),
        checksum=checksum,
    )


@dataclasses.dataclass
class Rows:
    """A decoded multi-part result: the flag and session of part 0 (None when
    the session is missing or expired), then entries and checkpoints in the
    statement's order."""

    flag: str | None = None
    session: SessionInfo | None = None
    entries: list[Entry] = dataclasses.field(default_factory=list)
    checkpoints: list[Checkpoint] = dataclasses.field(default_factory=list)

    @classmethod
    def decode(cls, rows: Sequence[Sequence[Any]]) -> Rows:
        result = cls()
        entry_rows = []
        for row in rows:
            part = row[0]
            if part == 1:
                entry_rows.append(row)
            elif part == 0:
                result.flag = row[2]
                result.session = session_from_row(row, 3)
            else:
                assert result.session is not None, "checkpoints come after their session"
                result.checkpoints.append(_checkpoint_from_slots(row, result.session.id))
        result.entries = entries_from_slots(entry_rows)
        return result
