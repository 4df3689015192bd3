"""Checks on a :class:`SessionExport` before ``import_session`` writes it.

An export may come from another store, a file or another party, so nothing in
it is trusted: every id, the agent, the owner, the JSON, every digest and the
shape of the tree are checked here -- I/O-free, shared by both twins -- and a
bad export is refused before any store is touched, so nothing is stored.

Errors: malformed content raises ``InvalidInput``; an entry over the size limit
``LimitExceeded``; data that does not match its recorded digest, or a path
that does not match its checkpoint's checksum, raises ``IntegrityError`` (the
error ``restore`` raises for the same damage).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import TypeVar

from ._canonical import canonical_json, checksum_matches, entry_digest, recompute_digest
from ._exceptions import IntegrityError, InvalidInput
from ._ids import validate_id, validate_user_id
from ._models import Checkpoint, Entry, SessionExport, SessionInfo
from ._rules import check_checkpoint_name, check_max_messages

__all__ = ["check_export", "find_damage"]

R = TypeVar("R", Entry, Checkpoint)


def check_export(export: SessionExport, *, max_bytes: int | None) -> SessionExport:
    """Return ``export`` if it is a whole, consistent session; raise otherwise.

    Checked: the session row (ids, owner, metadata, times, counters); each
    entry (id, kind, canonical JSON of its data, digest, created_at); the tree
    (unique ids, every parent in this session, depth and message_index one
    step from the parent, which also rules out cycles); the head and
    message_count; each checkpoint (id, session id, entry in this session,
    name, metadata, checksum of its path).
    """
    if not isinstance(export, SessionExport):
        raise InvalidInput("an export must be a SessionExport")
    info = export.session
    if not isinstance(info, SessionInfo):
        raise InvalidInput("an export's session must be a SessionInfo")
    _check_info(info)
    entries = _check_entries(export.entries, max_bytes)
    if info.head is None:
        expected_count = 0
    else:
        head = entries.get(info.head)
        if head is None:
            raise InvalidInput("the export's head is not one of its entries")
        expected_count = head.message_index
    if info.message_count != expected_count:
        raise InvalidInput("the export's message_count does not match its head")
    _check_checkpoints(export.checkpoints, info.id, entries)
    return export


def find_damage(export: SessionExport) -> list[tuple[str, str, str]]:
    """Every record of a session read from a store that does not match what it
    recorded: ``("entry", id, why)`` for data that is not its digest's,
    ``("checkpoint", id, why)`` for a path that is not its checksum's.

    Unlike :func:`check_export`, which stops at the first fault of an
    untrusted export, this reports them all (``agentsession verify``)."""
    found: list[tuple[str, str, str]] = []
    entries: dict[str, Entry] = {}
    for entry in export.entries:
        entries[entry.id] = entry
        try:
            digest = recompute_digest(entry.kind, entry.data)
        except (TypeError, ValueError):
            digest = ""
        if digest != entry.digest:
            found.append(("entry", entry.id, "its data does not match its digest"))
    for point in export.checkpoints:
        try:
            path = _path_digests(point.entry_id, entries)
        except KeyError:
            found.append(("checkpoint", point.id, "an entry of its path is missing"))
            continue
        if not checksum_matches(path, point.checksum):
            found.append(("checkpoint", point.id, "its path does not match its checksum"))
    return found


def _check_info(info: SessionInfo) -> None:
    validate_id(info.id, "session id")
    validate_id(info.agent, "agent name")
    if info.user_id is not None:
        validate_user_id(info.user_id)
    _json_text(info.metadata, "session metadata")
    for name in ("created_at", "updated_at"):
        _aware(getattr(info, name), name)
    for name in ("expires_at", "deadline", "last_checkpoint_at"):
        value = getattr(info, name)
        if value is not None:
            _aware(value, name)
    for name in ("revision", "message_count"):
        if not _count(getattr(info, name), 0):
            raise InvalidInput(f"the export's {name} must be a non-negative integer")
    check_max_messages(info.max_messages)
    idle = info.idle_timeout
    if idle is not None and (
        not isinstance(idle, int | float) or isinstance(idle, bool) or not math.isfinite(idle)
    ):
        raise InvalidInput("the export's idle_timeout must be a number of seconds or None")
    if idle is not None and idle <= 0:
        raise InvalidInput("the export's idle_timeout must be positive")


def _check_entries(items: object, max_bytes: int | None) -> dict[str, Entry]:
    by_id: dict[str, Entry] = {}
    for entry in _records(items, Entry, "entry"):
        if entry.parent_id is not None:
            validate_id(entry.parent_id, "parent entry id")
        validate_id(entry.kind, "entry kind")
        _aware(entry.created_at, "entry created_at")
        data_json = _json_text(entry.data, "entry data", max_bytes)
        if entry.digest != entry_digest(entry.kind, data_json):
            raise IntegrityError(f"entry {entry.id} does not match its digest")
        by_id[entry.id] = entry
    for entry in by_id.values():
        parent = None if entry.parent_id is None else by_id.get(entry.parent_id)
        if entry.parent_id is not None and parent is None:
            raise InvalidInput("an entry's parent is not in this session")
        # Depth one more than the parent's along every link: no cycle can exist.
        depth = 1 if parent is None else parent.depth + 1
        index = (0 if parent is None else parent.message_index) + entry.is_message
        if not _count(entry.depth, 1) or entry.depth != depth:
            raise InvalidInput("an entry's depth does not follow from its parent")
        if not _count(entry.message_index, 0) or entry.message_index != index:
            raise InvalidInput("an entry's message_index does not follow from its parent")
    return by_id


def _check_checkpoints(items: object, session_id: str, entries: dict[str, Entry]) -> None:
    paths: dict[str | None, list[str]] = {}
    for point in _records(items, Checkpoint, "checkpoint"):
        if point.session_id != session_id:
            raise InvalidInput("a checkpoint belongs to another session")
        if point.entry_id is not None and point.entry_id not in entries:
            raise InvalidInput("a checkpoint's entry is not in this session")
        check_checkpoint_name(point.name)
        _json_text(point.metadata, "checkpoint metadata")
        _aware(point.created_at, "checkpoint created_at")
        if point.entry_id not in paths:
            paths[point.entry_id] = _path_digests(point.entry_id, entries)
        if not isinstance(point.checksum, str) or not checksum_matches(
            paths[point.entry_id], point.checksum
        ):
            raise IntegrityError(f"checkpoint {point.id} does not match its path")


def _records(items: object, kind: type[R], what: str) -> Iterator[R]:
    """The records of an export's tuple, each a ``kind`` with a valid id no
    other record of the tuple has."""
    if not isinstance(items, tuple | list):
        raise InvalidInput(f"an export's {what} records must be a tuple")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, kind):
            raise InvalidInput(f"an export's {what} records must be {kind.__name__} objects")
        validate_id(item.id, f"{what} id")
        if item.id in seen:
            raise InvalidInput(f"a {what} id appears twice in the export")
        seen.add(item.id)
        yield item


def _path_digests(entry_id: str | None, entries: dict[str, Entry]) -> list[str]:
    digests: list[str] = []
    while entry_id is not None:
        entry = entries[entry_id]
        digests.append(entry.digest)
        entry_id = entry.parent_id
    digests.reverse()
    return digests


def _json_text(value: object, what: str, max_bytes: int | None = None) -> str:
    # Strictly a dict: what a store reads back, and what canonical JSON accepts.
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return canonical_json(value, max_bytes=max_bytes)


def _aware(value: object, what: str) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"the export's {what} must be an aware datetime")


def _count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
