"""The export file: one session a line, as JSON (I/O-free; public as ``agentsession.exports``).

Each line is an object ``{"format": 1, "session": {...}, "entries": [...],
"checkpoints": [...]}`` with the records' fields by name, times as ISO 8601
strings with their offset. Reading a line builds the records back; whether
they form a sound session is for ``import_session`` to check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from agentsession._exceptions import InvalidInput
from agentsession._models import Checkpoint, Entry, SessionExport, SessionInfo

__all__ = ["FORMAT", "dump_line", "load_line", "record"]

FORMAT = 1

R = TypeVar("R", SessionInfo, Entry, Checkpoint)

_TIMES = frozenset({"created_at", "updated_at", "expires_at", "deadline", "last_checkpoint_at"})


def record(item: SessionInfo | Entry | Checkpoint) -> dict[str, Any]:
    """A record's fields as JSON values (times as ISO 8601 text)."""
    out: dict[str, Any] = {}
    for name in type(item).__dataclass_fields__:
        value = getattr(item, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Mapping):
            value = dict(value)
        out[name] = value
    return out


def dump_line(export: SessionExport) -> str:
    """One session as a line of JSON (no newline)."""
    return json.dumps(
        {
            "format": FORMAT,
            "session": record(export.session),
            "entries": [record(e) for e in export.entries],
            "checkpoints": [record(c) for c in export.checkpoints],
        },
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )


def load_line(line: str) -> SessionExport:
    """A line back into an export (``InvalidInput`` if it is not one)."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise InvalidInput(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise InvalidInput(f"not an agentsession export line (format {FORMAT})")
    entries, checkpoints = value.get("entries"), value.get("checkpoints")
    if not isinstance(entries, list) or not isinstance(checkpoints, list):
        raise InvalidInput("an export line needs its entries and checkpoints lists")
    return SessionExport(
        _build(SessionInfo, value.get("session")),
        tuple(_build(Entry, e) for e in entries),
        tuple(_build(Checkpoint, c) for c in checkpoints),
    )


def _build(kind: type[R], fields: Any) -> R:
    if not isinstance(fields, dict):
        raise InvalidInput(f"an export's {kind.__name__} must be an object")
    known = kind.__dataclass_fields__
    unknown = set(fields) - set(known)
    if unknown:
        raise InvalidInput(f"unknown {kind.__name__} fields: {', '.join(sorted(unknown))}")
    values = dict(fields)
    for name in _TIMES & set(values):
        if values[name] is not None:
            try:
                values[name] = datetime.fromisoformat(values[name])
            except (TypeError, ValueError):
                raise InvalidInput(f"{kind.__name__}.{name} is not an ISO 8601 time") from None
    try:
        return kind(**values)
    except TypeError:
        raise InvalidInput(f"an export's {kind.__name__} lacks a field") from None
