"""Statement parameters of the PostgreSQL store, and what its status column
means (no I/O). The async store and its generated sync twin share these."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from agentsession._exceptions import ConflictError, InvalidInput, LimitExceeded, SessionNotFound
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    Unchecked,
)
from agentsession._rules import place_entries, with_checksums
from agentsession.stores.postgres._rows import load_pg_json, pg_json, session_from_row

__all__ = [
    "UNKNOWN_ENTRY",
    "append_params",
    "appended",
    "check_status",
    "checkpoint_params",
    "import_params",
    "session_params",
]

UNKNOWN_ENTRY: Final = "unknown entry id for this session"
# The parent ``append_params`` places a batch under: the statement puts the
# head it reads there. A parent (not a root) whose checksum is not known, so
# that nothing is hashed here: the statement chains the checksums.
_STAND_IN: Final = ""
_STATUS: Final[dict[str, tuple[type[Exception], str]]] = {
    "missing": (SessionNotFound, "session not found"),
    "conflict": (ConflictError, "the session changed since it was read (head or revision)"),
    "limit": (LimitExceeded, "the session's max_messages would be exceeded"),
    "invalid": (InvalidInput, UNKNOWN_ENTRY),
}


def check_status(status: str | None) -> None:
    """Raise what a statement's status says (``None``: no session row at all)."""
    if status is None:
        raise SessionNotFound()
    if status != "ok":
        error, message = _STATUS[status]
        raise error(message)


def session_params(info: SessionInfo, entries: Sequence[Entry] = ()) -> dict[str, Any]:
    """A session row to insert; ``entries`` (an import) decide the tree columns."""
    tip = max(entries, key=lambda e: e.depth, default=None)
    head = next((e for e in entries if e.id == info.head), None)
    return {
        "sid": info.id,
        "agent": info.agent,
        "user_id": info.user_id,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "metadata": pg_json(info.metadata),
        "head": info.head,
        "head_depth": head.depth if head else 0,
        "max_depth": tip.depth if tip else 0,
        "tip": tip.id if tip else None,
        # One chain: as many entries as the deepest one's depth.
        "linear": len(entries) == (tip.depth if tip else 0),
        "message_count": info.message_count,
        "revision": info.revision,
        "expires_at": info.expires_at,
        "deadline": info.deadline,
        "idle_timeout": info.idle_timeout,
        "max_messages": info.max_messages,
        "last_checkpoint_at": info.last_checkpoint_at,
        "head_checksum": head.checksum if head else None,
    }


def append_params(
    session_id: str,
    entries: Sequence[NewEntry],
    *,
    now: datetime,
    expires_at: datetime | None,
    expected_head: str | Unchecked | None,
    new_root: bool = False,
) -> tuple[bool, dict[str, Any]]:
    """``(one, params)`` for the append statement (``one``: its single-entry form).

    Entries are placed under a stand-in parent here; the statement adds the
    depth and message count of the head it reads under its row lock, and
    chains their path checksums on the head's.
    """
    relative = place_entries(
        entries, parent_id=_STAND_IN, parent_depth=0, message_count=0, max_messages=None
    )
    params: dict[str, Any] = {
        "sid": session_id,
        "now": now,
        "expires_at": expires_at,
        "check": expected_head is not UNCHECKED,
        "expected": None if expected_head is UNCHECKED else expected_head,
        "added": relative[-1].message_index,
        "count": len(entries),
        "last": entries[-1].id,
        "root": new_root,
    }
    if len(entries) == 1:
        (new,) = entries
        return True, params | {
            "id": new.id,
            "kind": new.kind,
            "created": new.created_at,
            "data": pg_json(new.data, new.data_json),
            "mi": relative[0].message_index,
            "digest": new.digest,
        }
    return False, params | {
        "ids": [e.id for e in entries],
        "parents": [e.parent_id or None for e in relative],
        "kinds": [e.kind for e in entries],
        "created": [e.created_at for e in entries],
        "data": [pg_json(e.data, e.data_json) for e in entries],
        "mis": [e.message_index for e in relative],
        "digests": [e.digest for e in entries],
    }


def appended(
    entries: Sequence[NewEntry], row: Sequence[Any] | None
) -> tuple[SessionInfo, list[Entry]]:
    """The append statement's row -- status, the head it wrote under (id,
    depth, message count, path checksum), the new session row -- as the
    protocol's result."""
    check_status(None if row is None else row[0])
    assert row is not None
    placed = place_entries(
        entries,
        parent_id=row[1],
        parent_depth=row[2],
        message_count=row[3],
        max_messages=None,
        parent_checksum=row[4],
    )
    # Fresh copies of the data, as a read would give: callers never alias it.
    return session_from_row(row, 5), [
        dataclasses.replace(e, data=load_pg_json(new.data_json))
        for e, new in zip(placed, entries, strict=True)
    ]


def checkpoint_params(
    checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
) -> dict[str, Any]:
    return {
        "sid": checkpoint.session_id,
        "cid": checkpoint.id,
        "entry": checkpoint.entry_id,
        "created_at": checkpoint.created_at,
        "name": checkpoint.name,
        "metadata": pg_json(checkpoint.metadata),
        "checksum": checkpoint.checksum,
        "now": now,
        "expires_at": expires_at,
    }


def import_params(export: SessionExport) -> dict[str, Any]:
    """An import's rows; path checksums computed afresh (none brought is trusted)."""
    entries, checkpoints = with_checksums(export.entries), export.checkpoints
    return session_params(export.session, entries) | {
        "now": export.session.updated_at,
        "ids": [e.id for e in entries],
        "parents": [e.parent_id for e in entries],
        "kinds": [e.kind for e in entries],
        "created": [e.created_at for e in entries],
        "data": [pg_json(e.data) for e in entries],
        "depths": [e.depth for e in entries],
        "mis": [e.message_index for e in entries],
        "digests": [e.digest for e in entries],
        "checksums": [e.checksum for e in entries],
        "c_ids": [c.id for c in checkpoints],
        "c_entries": [c.entry_id for c in checkpoints],
        "c_created": [c.created_at for c in checkpoints],
        "c_names": [c.name for c in checkpoints],
        "c_meta": [pg_json(c.metadata) for c in checkpoints],
        "c_checksums": [c.checksum for c in checkpoints],
    }
