"""I/O-free pieces of the ORM store: lazy querysets, the path walk in SQL, and
conversions between rows and the library's records (the admin uses them too).

The Django ORM has no recursive queries, so walking a path (child to parent,
from the head up) is one ``WITH RECURSIVE`` subquery that SQLite, PostgreSQL,
MySQL 8 and MariaDB all understand; the ORM does the rest (filtering,
ordering, limiting and converting the rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from agentsession.store import Checkpoint, Entry, SessionInfo, canonical_json, load_json_object

from .models import StoredCheckpoint, StoredEntry, StoredSession

MESSAGE = "message"

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "binary_collation",
    "checkpoint_of",
    "checkpoint_row",
    "entry_of",
    "entry_row",
    "info_of",
    "leaves_query",
    "path_ids",
    "path_query",
    "session_row",
]


def path_ids(
    connection: BaseDatabaseWrapper,
    *,
    table: str,
    session_pk: int,
    start: str,
    steps: int | None = None,
    last_messages: int | None = None,
) -> RawSQL:
    """The primary keys of entry ``start`` and its ancestors, as a subquery.

    ``steps`` stops the walk after that many entries. ``last_messages`` stops
    it once the entries walked hold that many messages (message indexes only
    fall going up), so reading the last few messages costs the same however
    long the history is.
    """
    t = connection.ops.quote_name(table)
    stop = "1 = 1"
    params: list[object] = [last_messages or 0, session_pk, start, session_pk]
    if steps is not None:
        stop = "p.n < %s"
        params.append(steps)
    elif last_messages is not None:
        stop = "p.message_index > p.lowest"
    sql = (
        "WITH RECURSIVE p (id, parent_id, message_index, lowest, n) AS ("
        " SELECT e.id, e.parent_id, e.message_index, e.message_index - %s, 1"
        f" FROM {t} e WHERE e.session_id = %s AND e.entry_id = %s"
        " UNION ALL"
        " SELECT e.id, e.parent_id, e.message_index, p.lowest, p.n + 1"
        f" FROM {t} e JOIN p ON e.entry_id = p.parent_id"
        f" WHERE e.session_id = %s AND {stop}"
        ") SELECT id FROM p"
    )
    return RawSQL(sql, params)


def path_query(
    using: str,
    session: StoredSession,
    start: str,
    *,
    limit: int | None = None,
    kind: str | None = None,
    with_data: bool = True,
) -> QuerySet[StoredEntry]:
    """The path from entry ``start`` up to the root, **newest first**: only
    entries of ``kind`` if given, only ``limit`` of them if given."""
    ids = path_ids(
        connections[using],
        table=StoredEntry._meta.db_table,
        session_pk=session.pk,
        start=start,
        steps=limit if kind is None else None,
        last_messages=limit if kind == MESSAGE else None,
    )
    rows = StoredEntry.objects.using(using).filter(pk__in=ids).order_by("-depth")
    if kind is not None:
        rows = rows.filter(kind=kind)
    if not with_data:
        rows = rows.defer("data")
    return rows if limit is None else rows[:limit]


def leaves_query(using: str, session: StoredSession) -> QuerySet[StoredEntry]:
    """The entries of ``session`` that have no child: one per branch."""
    children = StoredEntry.objects.using(using).filter(
        session=OuterRef("session"), parent_id=OuterRef("entry_id")
    )
    return StoredEntry.objects.using(using).filter(session=session).filter(~Exists(children))


def binary_collation(vendor: str) -> str | None:
    """A collation that orders ids by code point, as Python's ``sorted`` does."""
    return "C" if vendor == "postgresql" else None


def info_of(row: StoredSession) -> SessionInfo:
    return SessionInfo(
        id=row.session_id,
        agent=row.agent,
        user_id=row.user_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=load_json_object(row.metadata),
        head=row.head,
        message_count=row.message_count,
        revision=row.revision,
        expires_at=row.expires_at,
        deadline=row.deadline,
        idle_timeout=row.idle_timeout,
        max_messages=row.max_messages,
        last_checkpoint_at=row.last_checkpoint_at,
    )


def entry_of(row: StoredEntry, *, with_data: bool = True) -> Entry:
    return Entry(
        id=row.entry_id,
        parent_id=row.parent_id,
        kind=row.kind,
        created_at=row.created_at,
        data=load_json_object(row.data) if with_data else {},
        depth=row.depth,
        message_index=row.message_index,
        digest=row.digest,
        checksum=row.checksum,
    )


def checkpoint_of(row: StoredCheckpoint, session_id: str) -> Checkpoint:
    return Checkpoint(
        id=row.checkpoint_id,
        session_id=session_id,
        entry_id=row.entry_id,
        created_at=row.created_at,
        name=row.name,
        metadata=load_json_object(row.metadata),
        checksum=row.checksum,
    )


def session_row(info: SessionInfo) -> StoredSession:
    return StoredSession(
        session_id=info.id,
        agent=info.agent,
        user_id=info.user_id,
        created_at=info.created_at,
        updated_at=info.updated_at,
        metadata=canonical_json(dict(info.metadata)),
        head=info.head,
        message_count=info.message_count,
        revision=info.revision,
        expires_at=info.expires_at,
        deadline=info.deadline,
        idle_timeout=info.idle_timeout,
        max_messages=info.max_messages,
        last_checkpoint_at=info.last_checkpoint_at,
    )


def entry_row(session: StoredSession, entry: Entry, data_json: str) -> StoredEntry:
    return StoredEntry(
        session=session,
        entry_id=entry.id,
        parent_id=entry.parent_id,
        kind=entry.kind,
        created_at=entry.created_at,
        data=data_json,
        depth=entry.depth,
        message_index=entry.message_index,
        digest=entry.digest,
        checksum=entry.checksum,
    )


def checkpoint_row(session: StoredSession, checkpoint: Checkpoint) -> StoredCheckpoint:
    return StoredCheckpoint(
        session=session,
        checkpoint_id=checkpoint.id,
        entry_id=checkpoint.entry_id,
        created_at=checkpoint.created_at,
        name=checkpoint.name,
        metadata=canonical_json(dict(checkpoint.metadata)),
        checksum=checkpoint.checksum,
    )
