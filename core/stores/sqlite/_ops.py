"""The SQLite store's transactions: plain functions of one connection.

Both twins run exactly these functions -- the sync store in the calling
thread, the async store on its worker thread (see ``_blocking``) -- so each
store call is one transaction and one hop, whatever the twin. Writes begin
with ``BEGIN IMMEDIATE``: the row read (head, revision, expiry) and the write
are one unit, and concurrent writers (threads or processes) queue on the
database lock instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from agentsession._canonical import canonical_json, chain_checksum
from agentsession._exceptions import (
    CheckpointNotFound,
    ConflictError,
    InvalidInput,
    SearchUnavailable,
    SessionNotFound,
)
from agentsession._models import (
    MESSAGE,
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SearchHit,
    SessionExport,
    SessionInfo,
    Unchecked,
    evolve,
)
from agentsession._rules import (
    check_expected_head,
    check_revision,
    place_entries,
    with_checksums,
)
from agentsession._search import HitCollector, SearchQuery
from agentsession.stores.sqlite import _schema as sql
from agentsession.stores.sqlite._db import StoreConnection, index_queued, transaction
from agentsession.stores.sqlite._schema import (
    at_us,
    opt_us,
    row_to_checkpoint,
    row_to_entry,
    row_to_info,
    rows_to_entries,
    to_us,
)

__all__ = [
    "append",
    "create_session",
    "delete_session",
    "export_session",
    "get_checkpoint",
    "get_entry",
    "get_session",
    "import_session",
    "list_checkpoints",
    "list_leaves",
    "list_sessions",
    "prune_expired",
    "read_path",
    "rotate_id",
    "save_checkpoint",
    "search",
    "set_head",
    "update_session",
]

Connection = StoreConnection


def _write(conn: Connection) -> AbstractContextManager[None]:
    return transaction(conn, "BEGIN IMMEDIATE")


def _read(conn: Connection) -> AbstractContextManager[None]:
    # Deferred: one consistent snapshot for several statements, no lock taken.
    return transaction(conn, "BEGIN")


def _expired(expires_at: int | None, now: int) -> bool:
    return expires_at is not None and expires_at <= now


def _live(conn: Connection, session_id: str, now: int) -> tuple[int, SessionInfo]:
    row = conn.execute(sql.SELECT_SESSION, (session_id,)).fetchone()
    if row is None or _expired(row[10], now):
        raise SessionNotFound()
    return row[0], row_to_info(row)


def _erase(conn: Connection, pk: int) -> None:
    if conn.searchable:
        conn.execute(sql.DELETE_SEARCH_ROWS, (pk,))
    conn.execute(sql.DEQUEUE_SESSION, (pk,))
    for statement in sql.DELETE_SESSION:
        conn.execute(statement, (pk,))


def _unknown_entry() -> InvalidInput:
    return InvalidInput("unknown entry id for this session")


def _bumped(
    info: SessionInfo, now: datetime, expires_at: datetime | None, **changes: Any
) -> SessionInfo:
    return evolve(
        info, revision=info.revision + 1, updated_at=now, expires_at=expires_at, **changes
    )


def _taken(conn: Connection, session_id: str, now: int) -> None:
    """ConflictError if a live session holds ``session_id``; erase an expired one."""
    row = conn.execute(sql.SELECT_PK, (session_id,)).fetchone()
    if row is not None:
        if not _expired(row[1], now):
            raise ConflictError("a session with this id already exists")
        _erase(conn, row[0])


# -- sessions ----------------------------------------------------------------


def create_session(conn: Connection, info: SessionInfo) -> None:
    params = sql.info_params(info, canonical_json(dict(info.metadata)))
    with _write(conn):
        _taken(conn, info.id, to_us(info.created_at))
        conn.execute(sql.INSERT_SESSION, params)


def get_session(conn: Connection, session_id: str, *, now: datetime) -> SessionInfo:
    return _live(conn, session_id, to_us(now))[1]


def list_sessions(
    conn: Connection,
    *,
    agent: str | None,
    user_id: str | Unchecked | None,
    limit: int,
    offset: int,
    now: datetime,
) -> list[SessionInfo]:
    query, params = sql.list_sessions_sql(agent, user_id, limit, offset, to_us(now))
    return [row_to_info(row) for row in conn.execute(query, params)]


def delete_session(
    conn: Connection, session_id: str, *, expected_revision: int | None = None
) -> bool:
    with _write(conn):
        return _erased(conn, session_id, expected_revision)


def _erased(conn: Connection, session_id: str, expected_revision: int | None) -> bool:
    """Erase the session (in the caller's transaction); False if absent."""
    row = conn.execute(sql.SELECT_PK, (session_id,)).fetchone()
    if row is None:
        return False
    check_revision(row[2], expected_revision)
    _erase(conn, row[0])
    return True


def update_session(
    conn: Connection,
    session_id: str,
    *,
    metadata: Mapping[str, Any],
    now: datetime,
    expires_at: datetime | None,
    expected_revision: int | None = None,
) -> SessionInfo:
    with _write(conn):
        pk, info = _live(conn, session_id, to_us(now))
        check_revision(info.revision, expected_revision)
        merged = {**info.metadata, **metadata}
        new = _bumped(info, now, expires_at, metadata=merged)
        conn.execute(
            sql.UPDATE_METADATA,
            (new.revision, to_us(now), opt_us(expires_at), canonical_json(merged), pk),
        )
    return new


def rotate_id(
    conn: Connection,
    session_id: str,
    new_id: str,
    *,
    user_id: str | Unchecked | None,
    now: datetime,
    expires_at: datetime | None,
) -> SessionInfo:
    now_us = to_us(now)
    with _write(conn):
        pk, info = _live(conn, session_id, now_us)
        _taken(conn, new_id, now_us)
        owner = info.user_id if user_id is UNCHECKED else user_id
        new = _bumped(info, now, expires_at, id=new_id, user_id=owner)
        conn.execute(sql.UPDATE_ID, (new.revision, now_us, opt_us(expires_at), new_id, owner, pk))
        if owner != info.user_id and conn.searchable:
            conn.execute(sql.UPDATE_SCOPE, (sql.search_scope(pk, info.agent, owner), pk))
    return new


def prune_expired(conn: Connection, *, now: datetime, batch: int) -> int:
    with _write(conn):
        doomed = [row[0] for row in conn.execute(sql.SELECT_EXPIRED, (to_us(now), batch))]
        for pk in doomed:
            _erase(conn, pk)
    return len(doomed)


def search(
    conn: Connection,
    query: SearchQuery,
    *,
    user_id: str | Unchecked | None,
    agent: str | None,
    limit: int,
    now: datetime,
) -> list[SearchHit]:
    if not conn.searchable:
        raise SearchUnavailable(
            "this SQLite store has search off (search=False), or its SQLite lacks FTS5"
        )
    index_queued(conn)
    found = HitCollector(query, limit)
    match = sql.match_expression(query.words, user_id, agent)
    page, offset = 2 * limit, 0
    now_us = to_us(now)
    with _read(conn):
        while True:
            rows = conn.execute(sql.SEARCH, (match, page, offset)).fetchall()
            for session_id, entry_id, digest, created_at, body, role, rank, expires in rows:
                if _expired(expires, now_us):
                    continue
                role = role if isinstance(role, str) else None
                found.add(session_id, digest, -rank, at_us(created_at), entry_id, body, role)
            offset += page
            if len(rows) < page or len(found.hits()) >= limit:
                return found.hits()


def _index(conn: Connection, pk: int, entries: Iterable[tuple[str, str]]) -> None:
    """Queue the messages among ``entries`` (id, kind) for the search index."""
    if not conn.searchable:
        return
    rows = [(pk, entry_id) for entry_id, kind in entries if kind == MESSAGE]
    if rows:
        conn.executemany(sql.QUEUE_SEARCH, rows)
        conn.queued += len(rows)


# -- history -----------------------------------------------------------------


def append(
    conn: Connection,
    session_id: str,
    entries: Sequence[NewEntry],
    *,
    now: datetime,
    expires_at: datetime | None,
    expected_head: str | Unchecked | None,
    new_root: bool = False,
) -> tuple[SessionInfo, list[Entry]]:
    now_us = to_us(now)
    with _write(conn):
        row = conn.execute(sql.SELECT_FOR_APPEND, (session_id,)).fetchone()
        if row is None or _expired(row[10], now_us):
            raise SessionNotFound()
        info = row_to_info(row)
        check_expected_head(info.head, expected_head)
        pk = row[0]
        parent_id = None if new_root else info.head
        parent_checksum = row[18]
        if parent_checksum is None and parent_id is not None and row[15] is not None:
            # A head stored without one (by a process of the release before,
            # which had the file open when it was migrated): from its path.
            above = _path_rows(conn, pk, parent_id, None, None, False)
            parent_checksum = chain_checksum(r[6] for r in above)
        placed = place_entries(
            entries,
            parent_id=parent_id,
            parent_depth=0 if new_root else row[16] or 0,
            message_count=0 if new_root else info.message_count,
            max_messages=info.max_messages,
            parent_checksum=parent_checksum,
        )
        if not placed:
            return info, []
        # Continue the head's line while the head has no child yet.
        if not new_root and info.head is not None and row[15] is not None and not row[17]:
            line = row[15]
        else:
            line = conn.execute(sql.NEXT_LINE, (pk,)).fetchone()[0]
        conn.executemany(
            sql.INSERT_ENTRY,
            [
                (pk, e.id, e.parent_id, line, e.depth, e.message_index, e.kind,
                 to_us(e.created_at), e.digest, e.checksum, new.data_json)
                for e, new in zip(placed, entries, strict=True)
            ],
        )  # fmt: skip
        _index(conn, pk, ((new.id, new.kind) for new in entries))
        last = placed[-1]
        info = _bumped(info, now, expires_at, head=last.id, message_count=last.message_index)
        conn.execute(
            sql.UPDATE_HEAD,
            (info.revision, now_us, opt_us(expires_at), last.id, last.message_index, pk),
        )
    return info, placed


def _path_rows(
    conn: Connection, pk: int, start: str, kind: str | None, limit: int | None, with_data: bool
) -> list[Any]:
    """Rows of the path root -> ``start``, oldest first: all of them, or the
    last ``limit``. Three statements whatever the number of forks: where
    ``start`` is, whether its line leaves another, then one range scan (a
    path on one line) or one recursive statement over every line it crosses.
    The last entry of any kind is ``start`` itself: one lookup (what a
    checkpoint reads, for the head's path checksum)."""
    if limit == 1 and kind is None:
        row = conn.execute(sql.ENTRY_AT[with_data], (pk, start)).fetchone()
        if row is not None:
            return [row]
    line, top = conn.execute(sql.SELECT_POSITION, (pk, start)).fetchone()
    forked = conn.execute(sql.SELECT_FORK, {"pk": pk, "line": line}).fetchone() is not None
    last = limit is not None
    if forked:
        query, params = sql.PATH[with_data, last], {"pk": pk, "start": start}
    else:
        query = (sql.SEGMENT_LAST if last else sql.SEGMENT)[with_data]
        params = {"pk": pk, "line": line, "top": top}
    rows = conn.execute(query, {**params, "kind": kind, "limit": limit}).fetchall()
    if last:
        rows.reverse()
    return rows


def read_path(
    conn: Connection,
    session_id: str,
    *,
    now: datetime,
    before: str | None = None,
    limit: int | None = None,
    kind: str | None = None,
    with_data: bool = True,
) -> tuple[SessionInfo, list[Entry]]:
    with _read(conn):
        pk, info = _live(conn, session_id, to_us(now))
        start = info.head
        if before is not None:
            row = conn.execute(sql.SELECT_PARENT, (pk, before)).fetchone()
            if row is None:
                raise _unknown_entry()
            start = row[0]
        if start is None or limit == 0:
            return info, []
        rows = _path_rows(conn, pk, start, kind, limit, with_data)
    return info, rows_to_entries(rows)


def get_entry(conn: Connection, session_id: str, entry_id: str, *, now: datetime) -> Entry:
    with _read(conn):
        pk, _ = _live(conn, session_id, to_us(now))
        row = conn.execute(sql.SELECT_ENTRY, (pk, entry_id)).fetchone()
    if row is None:
        raise _unknown_entry()
    return row_to_entry(row)


def set_head(
    conn: Connection,
    session_id: str,
    entry_id: str | None,
    *,
    now: datetime,
    expires_at: datetime | None,
    expected_revision: int | None = None,
) -> SessionInfo:
    with _write(conn):
        pk, info = _live(conn, session_id, to_us(now))
        check_revision(info.revision, expected_revision)
        count = 0
        if entry_id is not None:
            row = conn.execute(sql.SELECT_MESSAGE_INDEX, (pk, entry_id)).fetchone()
            if row is None:
                raise _unknown_entry()
            count = row[0]
        info = _bumped(info, now, expires_at, head=entry_id, message_count=count)
        conn.execute(
            sql.UPDATE_HEAD, (info.revision, to_us(now), opt_us(expires_at), entry_id, count, pk)
        )
    return info


def list_leaves(
    conn: Connection, session_id: str, *, now: datetime
) -> tuple[SessionInfo, list[Entry]]:
    with _read(conn):
        pk, info = _live(conn, session_id, to_us(now))
        rows = conn.execute(sql.SELECT_LEAVES, {"pk": pk}).fetchall()
    return info, [row_to_entry(row) for row in rows]


# -- checkpoints -------------------------------------------------------------


def save_checkpoint(
    conn: Connection, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
) -> SessionInfo:
    now_us = to_us(now)
    meta = canonical_json(dict(checkpoint.metadata))
    with _write(conn):
        pk, info = _live(conn, checkpoint.session_id, now_us)
        entry_id = checkpoint.entry_id
        if (
            entry_id is not None
            and conn.execute(sql.ENTRY_EXISTS, (pk, entry_id)).fetchone() is None
        ):
            raise _unknown_entry()
        conn.execute(
            sql.SAVE_CHECKPOINT,
            (pk, checkpoint.id, entry_id, to_us(checkpoint.created_at), checkpoint.name, meta,
             checkpoint.checksum),
        )  # fmt: skip
        info = _bumped(info, now, expires_at, last_checkpoint_at=now)
        conn.execute(
            sql.UPDATE_CHECKPOINTED, (info.revision, now_us, opt_us(expires_at), now_us, pk)
        )
    return info


def get_checkpoint(
    conn: Connection,
    session_id: str,
    checkpoint_id: str,
    *,
    now: datetime,
    with_path: bool = False,
) -> tuple[Checkpoint, list[Entry]]:
    rows: list[Any] = []
    with _read(conn):
        pk, _ = _live(conn, session_id, to_us(now))
        row = conn.execute(sql.SELECT_CHECKPOINT, (pk, checkpoint_id)).fetchone()
        if row is None:
            raise CheckpointNotFound("unknown checkpoint for this session")
        if with_path and row[1] is not None:
            rows = _path_rows(conn, pk, row[1], None, None, True)
    # The path is read to be verified: its data stays the stored text.
    return row_to_checkpoint(row, session_id), sql.stored_entries(rows)


def list_checkpoints(conn: Connection, session_id: str, *, now: datetime) -> list[Checkpoint]:
    with _read(conn):
        pk, _ = _live(conn, session_id, to_us(now))
        rows = conn.execute(sql.SELECT_CHECKPOINTS, (pk,)).fetchall()
    return [row_to_checkpoint(row, session_id) for row in rows]


# -- export / import ---------------------------------------------------------


def export_session(conn: Connection, session_id: str, *, now: datetime) -> SessionExport:
    with _read(conn):
        pk, info = _live(conn, session_id, to_us(now))
        entries = conn.execute(sql.SELECT_ALL_ENTRIES, (pk,)).fetchall()
        checkpoints = conn.execute(sql.SELECT_CHECKPOINTS, (pk,)).fetchall()
    return SessionExport(
        info,
        tuple(row_to_entry(row) for row in entries),
        tuple(row_to_checkpoint(row, session_id) for row in checkpoints),
    )


def import_session(
    conn: Connection, export: SessionExport, *, expected_revision: int | None = None
) -> None:
    info = export.session
    if len({e.id for e in export.entries}) != len(export.entries):
        raise InvalidInput("the export holds the same entry id twice")
    session_params = sql.info_params(info, canonical_json(dict(info.metadata)))
    lines = sql.assign_lines(export.entries)
    with _write(conn):
        if expected_revision is None:
            _taken(conn, info.id, to_us(info.updated_at))
        elif not _erased(conn, info.id, expected_revision):
            raise SessionNotFound()
        pk: int = conn.execute(sql.INSERT_SESSION, session_params).lastrowid  # type: ignore[assignment]
        conn.executemany(
            sql.INSERT_ENTRY,
            [
                (pk, e.id, e.parent_id, line, e.depth, e.message_index, e.kind,
                 to_us(e.created_at), e.digest, e.checksum, canonical_json(dict(e.data)))
                for e, line in zip(with_checksums(export.entries), lines, strict=True)
            ],
        )  # fmt: skip
        _index(conn, pk, ((e.id, e.kind) for e in export.entries))
        conn.executemany(
            sql.SAVE_CHECKPOINT,
            [
                (pk, c.id, c.entry_id, to_us(c.created_at), c.name,
                 canonical_json(dict(c.metadata)), c.checksum)
                for c in export.checkpoints
            ],
        )  # fmt: skip
