"""The data model: sessions, entries, checkpoints, branches.

These are plain records (slotted dataclasses). Stores build them, the manager
and session objects hand them out; nothing here does I/O. They are snapshots:
changing one changes nothing stored. They are deliberately not ``frozen``: a
frozen dataclass costs ~2 us per construction (``object.__setattr__`` per
field), which dominated reading 1 000-entry paths. So a store that keeps
records in memory copies them on the way in and out (:func:`copy_info`,
:func:`copy_checkpoint`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "UNCHECKED",
    "Branch",
    "Checkpoint",
    "Entry",
    "MigrationReport",
    "NewEntry",
    "SearchHit",
    "SessionExport",
    "SessionInfo",
    "Unchecked",
    "carrying",
    "copy_checkpoint",
    "copy_info",
    "evolve",
    "json_copy",
    "same_export",
]

MESSAGE: Final = "message"
STATE: Final = "state"


class Unchecked(enum.Enum):
    """Type of :data:`UNCHECKED`."""

    UNCHECKED = "UNCHECKED"

    def __repr__(self) -> str:
        return "UNCHECKED"


#: "Do not check": as ``user_id`` it means trusted server code (no owner check);
#: as ``expected_head`` it means no compare-and-swap.
UNCHECKED: Final = Unchecked.UNCHECKED


@dataclass(slots=True)
class SessionInfo:
    """A snapshot of one session's row.

    Attributes:
        id: the session id.
        agent: the agent name the session belongs to.
        user_id: the owner, or ``None`` for an anonymous session.
        created_at / updated_at: aware UTC datetimes.
        metadata: a JSON object, updatable with ``update_metadata``.
        head: id of the current leaf entry, ``None`` when empty.
        message_count: messages on the current path (root to head).
        revision: +1 on every mutation.
        expires_at: when the session stops being found, ``None`` = never.
        deadline: the absolute (``ttl``) limit of ``expires_at``, if any.
        idle_timeout: seconds of inactivity after which it expires, if any.
        max_messages: limit on ``message_count``, if any.
        last_checkpoint_at: when the newest checkpoint was taken.
    """

    id: str
    agent: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    head: str | None = None
    message_count: int = 0
    revision: int = 0
    expires_at: datetime | None = None
    deadline: datetime | None = None
    idle_timeout: float | None = None
    max_messages: int | None = None
    last_checkpoint_at: datetime | None = None


def evolve(info: SessionInfo, **changes: Any) -> SessionInfo:
    """A copy of ``info`` with ``changes`` (``dataclasses.replace``, 6x
    faster): every field passed by position, then the changes set on it.
    Runs a few times per store call; the field order is pinned by a test."""
    new = SessionInfo(
        info.id,
        info.agent,
        info.user_id,
        info.created_at,
        info.updated_at,
        info.metadata,
        info.head,
        info.message_count,
        info.revision,
        info.expires_at,
        info.deadline,
        info.idle_timeout,
        info.max_messages,
        info.last_checkpoint_at,
    )
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts and lists; 4x faster than ``copy.deepcopy``)."""
    if type(value) is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [json_copy(v) for v in value]
    return value


def carrying(entry: Entry, data: Mapping[str, Any]) -> Entry:
    """``entry`` with ``data`` (``dataclasses.replace``, without its cost:
    positional, as this runs once per entry a store hands out)."""
    return Entry(
        entry.id,
        entry.parent_id,
        entry.kind,
        entry.created_at,
        data,
        entry.depth,
        entry.message_index,
        entry.digest,
        entry.checksum,
    )


def copy_info(info: SessionInfo) -> SessionInfo:
    """A copy of ``info`` sharing nothing mutable with it (metadata copied deeply)."""
    return evolve(info, metadata=json_copy(dict(info.metadata)))


@dataclass(slots=True)
class NewEntry:
    """An entry prepared by the manager, before a store places it in the tree.

    ``data_json`` is the canonical JSON of ``data`` and ``digest`` is already
    computed, so stores never serialise or hash anything themselves.
    """

    id: str
    kind: str
    data: Mapping[str, Any]
    data_json: str
    digest: str
    created_at: datetime

    @property
    def is_message(self) -> bool:
        """Whether the entry is a message (kind ``"message"``)."""
        return self.kind == MESSAGE


@dataclass(slots=True)
class Entry:
    """One node of a session's history tree (append-only).

    Attributes:
        id / parent_id: tree links (``parent_id`` is ``None`` for a root).
        kind: ``"message"``, ``"state"`` or a custom string.
        data: the JSON object stored.
        depth: position on its path, root = 1.
        message_index: messages on its path up to and including it.
        digest: SHA-256 of the canonical JSON of ``kind`` + ``data``.
        checksum: the chained checksum of the path root → this entry, what a
            checkpoint of it records; ``None`` where the store does not keep
            it (a store of another release, or data written before it did).
    """

    id: str
    parent_id: str | None
    kind: str
    created_at: datetime
    data: Mapping[str, Any]
    depth: int
    message_index: int
    digest: str
    #: Derived from the path: two stores holding the same entry are equal
    #: whether or not they keep it.
    checksum: str | None = field(default=None, compare=False)

    @property
    def is_message(self) -> bool:
        """Whether the entry is a message (kind ``"message"``)."""
        return self.kind == MESSAGE


@dataclass(slots=True)
class Checkpoint:
    """A named record of a head; restoring it verifies the path's checksum."""

    id: str
    session_id: str
    entry_id: str | None
    created_at: datetime
    name: str | None
    metadata: Mapping[str, Any]
    checksum: str


_CHECKPOINT_FIELDS = tuple(Checkpoint.__dataclass_fields__)


def copy_checkpoint(point: Checkpoint, **changes: Any) -> Checkpoint:
    """A copy of ``point`` with ``changes``, sharing no metadata with it."""
    values = {name: getattr(point, name) for name in _CHECKPOINT_FIELDS}
    values["metadata"] = json_copy(dict(point.metadata))
    values.update(changes)
    return Checkpoint(**values)


@dataclass(slots=True)
class Branch:
    """One leaf of the history tree."""

    leaf_id: str
    message_count: int
    updated_at: datetime
    is_current: bool


@dataclass(slots=True)
class SearchHit:
    """One message a search found.

    ``snippet`` is plain text around the first matching word. ``rank``:
    higher is better; it orders one result list and means nothing across
    lists or stores. ``role`` is the message's ``role`` when it has one.
    """

    session_id: str
    entry_id: str
    snippet: str
    rank: float
    created_at: datetime
    role: str | None = None


@dataclass(slots=True)
class SessionExport:
    """Everything of one session: the row, every entry (parents before children)
    and every checkpoint. ``export_session``/``import_session`` move it between
    stores."""

    session: SessionInfo
    entries: tuple[Entry, ...]
    checkpoints: tuple[Checkpoint, ...]


def same_export(a: SessionExport, b: SessionExport) -> bool:
    """Whether two exports hold the same session: the row, and the same entries
    and checkpoints whatever order each store lists them in."""
    return (
        a.session == b.session
        and {e.id: e for e in a.entries} == {e.id: e for e in b.entries}
        and {c.id: c for c in a.checkpoints} == {c.id: c for c in b.checkpoints}
    )


@dataclass(slots=True)
class MigrationReport:
    """What a migration did (``agentsession.migrate``).

    Attributes:
        copied: sessions copied, and read back identical from the destination.
        skipped: sessions the destination already held, identical.
        conflicts: ids the destination holds a different session under
            (left untouched).
        failed: id -> why it was not copied (a damaged source session, a copy
            that did not read back identical).
    """

    copied: int = 0
    skipped: int = 0
    conflicts: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing in conflict and nothing failed."""
        return not self.conflicts and not self.failed


class ManagerOptions(TypedDict):
    """A manager's options, as its constructor takes them (``manager.options()``).

    The one list of them: a twin over another store is
    ``SessionManager(store, **manager.options())``, so an option added to the
    managers is carried by every twin (``manager.with_store``, the web layer's).
    """

    ttl: timedelta | None
    idle_timeout: timedelta | None
    max_messages: int | None
    checkpoint_every: timedelta | None
    max_entry_bytes: int
    max_metadata_bytes: int
    max_batch: int
    clock: Callable[[], datetime] | None
    audit: Callable[[Any], None] | bool
    audit_ids: Literal["clear", "hashed"]
    on_limit: Literal["refuse", "window"]
