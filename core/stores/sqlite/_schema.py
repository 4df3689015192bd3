"""The SQLite store's schema, SQL text and row conversions.

Layout (every table prefixed ``agentsession_`` so the file can be shared with
an application's own tables):

* ``sessions``: one row per session; ``pk`` is an integer key the other
  tables refer to, so ``rotate_id`` rewrites one row, not the history.
* ``entries``: the tree. ``data`` holds the canonical JSON text verbatim;
  ``checksum`` the chained checksum of the entry's path (``docs/design.md``,
  "Model"), written with the entry from its parent's.
  ``line`` cuts the tree into chains: an entry continues its parent's line
  when the parent has no child yet, else it starts a new line. So a line's
  deepest entry is a leaf and every leaf is a line's deepest entry, and a
  path root -> entry is one index range scan per line it crosses (one per
  fork on it), not one lookup per entry; a forked path is read by one
  recursive statement over those lines.
* ``checkpoints``: records beside the tree.
* ``schema``: applied migrations. Migrations only move forward; each one is
  applied inside the transaction that records it.

Timestamps are integer microseconds since the Unix epoch (UTC): exact, and
ordered the same way as the datetimes they encode. This module does no I/O
of its own; migration 3's backfill is a function the migration runs.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from agentsession._canonical import StoredJSON, chain_steps, load_object_page, scan_json
from agentsession._exceptions import IntegrityError
from agentsession._models import UNCHECKED, Checkpoint, Entry, SessionInfo, Unchecked

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SYNCHRONOUS_LEVELS",
    "assign_lines",
    "at_us",
    "chain_existing",
    "from_us",
    "list_sessions_sql",
    "match_expression",
    "row_to_checkpoint",
    "row_to_entry",
    "row_to_info",
    "rows_to_entries",
    "search_scope",
    "stored_entries",
    "to_us",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)

SYNCHRONOUS_LEVELS: Final = ("OFF", "NORMAL", "FULL", "EXTRA")


def chain_existing(conn: Any) -> None:
    """Migration 3's backfill: each entry's path checksum from its parent's,
    session by session, parents first (by depth). An entry whose parent is
    missing (damage) keeps none; reading it fails as it always has."""
    rows = conn.execute(
        "SELECT rowid, session_pk, id, parent_id, digest FROM agentsession_entries"
        " ORDER BY session_pk, depth"
    )
    sums: dict[str, str] = {}
    pk = None
    batch: list[tuple[str, int]] = []
    for rowid, session_pk, entry_id, parent_id, digest in rows:
        if session_pk != pk:
            pk, sums = session_pk, {}
        if parent_id is not None and parent_id not in sums:
            continue
        [sums[entry_id]] = chain_steps([digest], sums.get(parent_id or ""))
        batch.append((sums[entry_id], rowid))
    conn.executemany("UPDATE agentsession_entries SET checksum = ? WHERE rowid = ?", batch)


_ENTRIES_TABLE: Final = """CREATE TABLE {name} (
            session_pk INTEGER NOT NULL,
            id TEXT NOT NULL,
            parent_id TEXT,
            line INTEGER NOT NULL,
            depth INTEGER NOT NULL,
            message_index INTEGER NOT NULL,
            kind TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            digest TEXT NOT NULL,{checksum}
            data TEXT NOT NULL
        )"""
_ENTRIES_INDEXES: Final = (
    "CREATE UNIQUE INDEX agentsession_entries_id ON agentsession_entries (session_pk, id)",
    "CREATE INDEX agentsession_entries_line ON agentsession_entries (session_pk, line, depth)",
)
_KEPT_COLUMNS: Final = (
    "rowid, session_pk, id, parent_id, line, depth, message_index, kind, created_at, digest, data"
)

# Migration n brings the schema from version n-1 to n. Never edit a released
# migration: append a new one. A step is a statement, or a function of the
# connection (run in the same transaction).
MIGRATIONS: Final[tuple[tuple[str | Callable[[Any], None], ...], ...]] = (
    (
        """CREATE TABLE agentsession_sessions (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            agent TEXT NOT NULL,
            user_id TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            head TEXT,
            message_count INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            expires_at INTEGER,
            deadline INTEGER,
            idle_timeout REAL,
            max_messages INTEGER,
            last_checkpoint_at INTEGER
        )""",
        "CREATE INDEX agentsession_sessions_user"
        " ON agentsession_sessions (user_id, updated_at, id)",
        "CREATE INDEX agentsession_sessions_updated ON agentsession_sessions (updated_at, id)",
        "CREATE INDEX agentsession_sessions_expiry ON agentsession_sessions (expires_at)"
        " WHERE expires_at IS NOT NULL",
        # data is the last column: reading the others never touches the
        # overflow pages of a large entry.
        _ENTRIES_TABLE.format(name="agentsession_entries", checksum=""),
        *_ENTRIES_INDEXES,
        """CREATE TABLE agentsession_checkpoints (
            session_pk INTEGER NOT NULL,
            id TEXT NOT NULL,
            entry_id TEXT,
            created_at INTEGER NOT NULL,
            name TEXT,
            metadata TEXT NOT NULL,
            checksum TEXT NOT NULL,
            UNIQUE (session_pk, id)
        )""",
    ),
    # 2: listing by agent, and by user and agent, read newest first straight
    # from an index (version 1 filtered the agent on the way through the
    # updated_at or user index: a scan of every session when the agent is rare).
    # An append moves updated_at, so it now updates two more index entries:
    # no difference beyond noise in the append time (about 90 us either way).
    (
        "CREATE INDEX agentsession_sessions_agent ON agentsession_sessions (agent, updated_at, id)",
        "CREATE INDEX agentsession_sessions_user_agent"
        " ON agentsession_sessions (user_id, agent, updated_at, id)",
    ),
    # 3: each entry's path checksum, so a checkpoint reads the head alone. The
    # table is rebuilt (rowids kept) to put it before ``data``: a column after
    # the data would be read past a large entry's overflow pages. Then the
    # entries already there get theirs.
    (
        _ENTRIES_TABLE.format(
            name="agentsession_entries_3", checksum="\n            checksum TEXT,"
        ),
        f"INSERT INTO agentsession_entries_3 ({_KEPT_COLUMNS})"
        f" SELECT {_KEPT_COLUMNS} FROM agentsession_entries",
        "DROP TABLE agentsession_entries",
        "ALTER TABLE agentsession_entries_3 RENAME TO agentsession_entries",
        *_ENTRIES_INDEXES,
        chain_existing,
    ),
    # 4: messages wait in a queue for the search index, which takes them in
    # batches (see "search" below); the messages already there are indexed.
    ("CREATE TABLE agentsession_unindexed (session_pk INTEGER NOT NULL, entry_id TEXT NOT NULL)",),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

CREATE_SCHEMA_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS agentsession_schema"
    " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
)
SCHEMA_VERSION_SQL: Final = "SELECT max(version) FROM agentsession_schema"
RECORD_MIGRATION: Final = "INSERT INTO agentsession_schema (version, applied_at) VALUES (?, ?)"

# -- sessions ----------------------------------------------------------------

SESSION_COLUMNS: Final = (
    "pk, id, agent, user_id, created_at, updated_at, metadata, head, message_count,"
    " revision, expires_at, deadline, idle_timeout, max_messages, last_checkpoint_at"
)
SELECT_SESSION: Final = f"SELECT {SESSION_COLUMNS} FROM agentsession_sessions WHERE id = ?"
# The row plus what an append needs about the head: its line and depth, and
# whether it already has a child (then the new entry starts a new line).
SELECT_FOR_APPEND: Final = f"""
    SELECT {", ".join("s." + c.strip() for c in SESSION_COLUMNS.split(","))},
        h.line, h.depth,
        EXISTS (SELECT 1 FROM agentsession_entries c
                WHERE c.session_pk = s.pk AND c.line = h.line AND c.depth > h.depth),
        h.checksum
    FROM agentsession_sessions s
    LEFT JOIN agentsession_entries h ON h.session_pk = s.pk AND h.id = s.head
    WHERE s.id = ?"""
INSERT_SESSION: Final = (
    "INSERT INTO agentsession_sessions (id, agent, user_id, created_at, updated_at, metadata,"
    " head, message_count, revision, expires_at, deadline, idle_timeout, max_messages,"
    " last_checkpoint_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_PK: Final = "SELECT pk, expires_at, revision FROM agentsession_sessions WHERE id = ?"
DELETE_SESSION: Final = (
    "DELETE FROM agentsession_entries WHERE session_pk = ?",
    "DELETE FROM agentsession_checkpoints WHERE session_pk = ?",
    "DELETE FROM agentsession_sessions WHERE pk = ?",
)
SELECT_EXPIRED: Final = (
    "SELECT pk FROM agentsession_sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
)
_BUMP: Final = "UPDATE agentsession_sessions SET revision = ?, updated_at = ?, expires_at = ?"
UPDATE_HEAD: Final = _BUMP + ", head = ?, message_count = ? WHERE pk = ?"
UPDATE_METADATA: Final = _BUMP + ", metadata = ? WHERE pk = ?"
UPDATE_CHECKPOINTED: Final = _BUMP + ", last_checkpoint_at = ? WHERE pk = ?"
UPDATE_ID: Final = _BUMP + ", id = ?, user_id = ? WHERE pk = ?"
# -- search --------------------------------------------------------------------
#
# Not a migration: the search table exists while the stores opening the file
# have search on (the default). A store with search on creates it, and
# indexes the messages already there, when the file lacks it (a file written
# before search, or by a store with search off); one with search off drops
# it. Its rows carry the message's text (``body``) and its ``scope``: the
# tokens ``s<session pk>``, ``u<owner hash>`` (``unone`` unowned) and
# ``a<agent hash>``, so a user's search, a session's erase and an owner
# change are index lookups. The FTS rowid is its own (the entries' implicit
# rowid may change on VACUUM); a row names its entry by (session_pk,
# entry_id). Existing messages are indexed through the functions the
# connection registers.
#
# An append does not write the index: it queues its messages in
# ``unindexed`` (one small row each), and the queue is indexed in one
# transaction -- by a search, before it reads, and once a store has queued
# ``INDEX_EVERY`` messages. FTS5 writes a segment per transaction, so one
# per batch costs a fraction of one per append (``docs/design.md``, "Search").
SEARCH_EXISTS: Final = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agentsession_search'"
)
CREATE_SEARCH: Final = (
    "CREATE VIRTUAL TABLE agentsession_search USING fts5("
    "body, scope, session_pk UNINDEXED, entry_id UNINDEXED,"
    " tokenize = 'unicode61 remove_diacritics 2')",
    """INSERT INTO agentsession_search (body, scope, session_pk, entry_id)
    SELECT body, agentsession_scope(pk, agent, user_id), pk, id FROM (
        SELECT agentsession_text(e.data) AS body, s.pk, s.agent, s.user_id, e.id
        FROM agentsession_entries e JOIN agentsession_sessions s ON s.pk = e.session_pk
        WHERE e.kind = 'message' LIMIT -1 OFFSET 0)
    WHERE body != ''""",
)
DROP_SEARCH: Final = "DROP TABLE IF EXISTS agentsession_search"
QUEUE_SEARCH: Final = "INSERT INTO agentsession_unindexed (session_pk, entry_id) VALUES (?, ?)"
QUEUE_END: Final = "SELECT max(rowid) FROM agentsession_unindexed"
QUEUE_EMPTY: Final = "SELECT NOT EXISTS (SELECT 1 FROM agentsession_unindexed)"
# The queued messages up to a queue rowid, in their sessions' current scope
# (a message or session erased since is no longer there to join). Here and in
# CREATE_SEARCH, "LIMIT -1 OFFSET 0" (no limit) keeps SQLite from merging the
# inner SELECT into the outer one, which would decode each message's JSON
# twice: once for "body != ''" and once for the row (docs/design.md, "Search").
INDEX_QUEUED: Final = """INSERT INTO agentsession_search (body, scope, session_pk, entry_id)
    SELECT body, agentsession_scope(pk, agent, user_id), pk, id FROM (
        SELECT agentsession_text(e.data) AS body, s.pk, s.agent, s.user_id, e.id
        FROM agentsession_unindexed q
        JOIN agentsession_entries e ON e.session_pk = q.session_pk AND e.id = q.entry_id
        JOIN agentsession_sessions s ON s.pk = q.session_pk
        WHERE q.rowid <= ? ORDER BY q.rowid LIMIT -1 OFFSET 0)
    WHERE body != ''"""
DEQUEUE: Final = "DELETE FROM agentsession_unindexed WHERE rowid <= ?"
CLEAR_QUEUE: Final = "DELETE FROM agentsession_unindexed"
DEQUEUE_SESSION: Final = "DELETE FROM agentsession_unindexed WHERE session_pk = ?"
#: Messages a store queues before it indexes the queue itself.
INDEX_EVERY: Final = 256
# A session's search rows, found by the scope token of its pk.
_OF_SESSION: Final = "agentsession_search MATCH 'scope : \"s' || ? || '\"'"
DELETE_SEARCH_ROWS: Final = f"DELETE FROM agentsession_search WHERE {_OF_SESSION}"
UPDATE_SCOPE: Final = f"UPDATE agentsession_search SET scope = ? WHERE {_OF_SESSION}"
# The best matches first (bm25: lower is better), then the newest. Ranked
# reading only rowids and scores (bm25() by name: FTS5's own "ORDER BY rank"
# path costs twice as much); the page's rows alone are then read whole and
# joined. Paged: repeated messages collapse
# into one hit, and the caller skips expired sessions (by expires_at).
SEARCH: Final = """
    SELECT s.id, e.id, e.digest, e.created_at, f.body, json_extract(e.data, '$.role'),
        top.rank, s.expires_at
    FROM (SELECT rowid, bm25(agentsession_search) AS rank FROM agentsession_search
          WHERE agentsession_search MATCH ? ORDER BY rank LIMIT ? OFFSET ?) AS top
    JOIN agentsession_search AS f ON f.rowid = top.rowid
    JOIN agentsession_sessions AS s ON s.pk = f.session_pk
    JOIN agentsession_entries AS e ON e.session_pk = f.session_pk AND e.id = f.entry_id
    ORDER BY top.rank, e.created_at DESC"""


@functools.lru_cache(maxsize=1024)
def search_scope(pk: int, agent: str, user_id: str | None) -> str:
    """The ``scope`` column of a session's search rows (see ``CREATE_SEARCH``).

    Cached: the index asks it for every message, and a batch's messages
    mostly share a few sessions (two SHA-256 hashes saved a message)."""
    return f"s{pk} {owner_token(user_id)} {_token('a', agent)}"


def owner_token(user_id: str | None) -> str:
    return "unone" if user_id is None else _token("u", user_id)


def _token(prefix: str, value: str) -> str:
    # Hashed: an opaque value never reaches the tokenizer (only hex does).
    return prefix + hashlib.sha256(value.encode()).hexdigest()[:24]


def match_expression(
    words: Sequence[str], user_id: str | Unchecked | None, agent: str | None
) -> str:
    """The FTS5 query: every word in the body, the owner and agent in scope.
    Words hold letters and digits only (``agentsession._search``), so quoting
    them is safe."""
    terms = " AND ".join(f'"{word}"' for word in words)
    parts = [f"body : ({terms})"]
    if user_id is not UNCHECKED:
        parts.append(f'scope : "{owner_token(user_id)}"')
    if agent is not None:
        parts.append(f'scope : "{_token("a", agent)}"')
    return " AND ".join(parts)


# (by user, by agent) -> the index serving that listing.
_LISTING_INDEX: Final = {
    (False, False): "agentsession_sessions_updated",
    (False, True): "agentsession_sessions_agent",
    (True, False): "agentsession_sessions_user",
    (True, True): "agentsession_sessions_user_agent",
}


def list_sessions_sql(
    agent: str | None, user_id: str | Unchecked | None, limit: int, offset: int, now: int
) -> tuple[str, list[Any]]:
    """The listing query: the index that serves the filter, newest first.

    Every filter has an index that starts with its columns and goes on with
    ``updated_at, id``: an index range read in order, no sort, and only the
    expiry checked row by row.
    """
    where = ["(expires_at IS NULL OR expires_at > ?)"]
    params: list[Any] = [now]
    by_user = user_id is not UNCHECKED
    index = _LISTING_INDEX[by_user, agent is not None]
    if by_user:
        if user_id is None:
            where.append("user_id IS NULL")
        else:
            where.append("user_id = ?")
            params.append(user_id)
    if agent is not None:
        where.append("agent = ?")
        params.append(agent)
    params += [limit, offset]
    sql = (
        f"SELECT {SESSION_COLUMNS} FROM agentsession_sessions INDEXED BY {index}"
        f" WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    return sql, params


# -- entries -----------------------------------------------------------------

ENTRY_COLUMNS: Final = "id, parent_id, kind, created_at, depth, message_index, digest, checksum"
INSERT_ENTRY: Final = (
    "INSERT INTO agentsession_entries (session_pk, id, parent_id, line, depth, message_index,"
    " kind, created_at, digest, checksum, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
NEXT_LINE: Final = (
    "SELECT coalesce(max(line), 0) + 1 FROM agentsession_entries WHERE session_pk = ?"
)
# One entry by id, with its data or NULL in its place (as the path reads give).
ENTRY_AT: Final = {
    flag: f"SELECT {ENTRY_COLUMNS}, {'data' if flag else 'NULL'} FROM agentsession_entries"
    " WHERE session_pk = ? AND id = ?"
    for flag in (True, False)
}
SELECT_ENTRY: Final = ENTRY_AT[True]
SELECT_PARENT: Final = "SELECT parent_id FROM agentsession_entries WHERE session_pk = ? AND id = ?"
SELECT_MESSAGE_INDEX: Final = (
    "SELECT message_index FROM agentsession_entries WHERE session_pk = ? AND id = ?"
)
# The leaves are exactly the lines' deepest entries (see the module docstring).
SELECT_LEAVES: Final = f"""
    SELECT {", ".join("e." + c.strip() for c in ENTRY_COLUMNS.split(","))}, e.data
    FROM (SELECT line, max(depth) AS tip FROM agentsession_entries
          WHERE session_pk = :pk GROUP BY line) t
    CROSS JOIN agentsession_entries e ON e.session_pk = :pk AND e.line = t.line AND e.depth = t.tip
    ORDER BY e.rowid"""
SELECT_ALL_ENTRIES: Final = f"""
    SELECT {ENTRY_COLUMNS}, data FROM agentsession_entries
    WHERE session_pk = ? ORDER BY depth, id"""


SELECT_POSITION: Final = (
    "SELECT line, depth FROM agentsession_entries WHERE session_pk = ? AND id = ?"
)
# Where the path leaves a line: the parent of the line's first entry.
SELECT_FORK: Final = """
    SELECT p.line, p.depth FROM agentsession_entries p
    WHERE p.session_pk = :pk AND p.id = (
        SELECT f.parent_id FROM agentsession_entries f
        WHERE f.session_pk = :pk AND f.line = :line ORDER BY f.depth LIMIT 1)"""


def segment_sql(*, with_data: bool, last: bool) -> str:
    """One line's part of a path: entries of ``:line`` at depth <= ``:top``
    (of ``:kind`` unless NULL); with ``last``, only the deepest ``:limit``,
    deepest first. An index range scan either way."""
    data = "data" if with_data else "NULL"
    order = "depth DESC LIMIT :limit" if last else "depth"
    return (
        f"SELECT {ENTRY_COLUMNS}, {data} FROM agentsession_entries"
        " WHERE session_pk = :pk AND line = :line AND depth <= :top"
        " AND (:kind IS NULL OR kind = :kind)"
        f" ORDER BY {order}"
    )


SEGMENT: Final = {flag: segment_sql(with_data=flag, last=False) for flag in (True, False)}
SEGMENT_LAST: Final = {flag: segment_sql(with_data=flag, last=True) for flag in (True, False)}


def path_sql(*, with_data: bool, last: bool) -> str:
    """The path root -> ``:start`` in one statement: all of it, oldest first,
    or with ``last`` the last ``:limit`` entries, deepest first (of ``:kind``
    unless NULL, either way). A recursive CTE finds the lines the path crosses (``seg``: one step
    per fork, from ``:start``'s line up), each line's part is an index range
    scan, and a floor keeps a limited read to the entries it can return: a
    depth floor for any kind, a ``message_index`` floor for messages. The
    recursion stops at a line that lies wholly under the floor. Without
    ``last`` the whole path, oldest first (``:limit`` NULL)."""
    data = "data" if with_data else "NULL"
    return f"""
    WITH RECURSIVE st(line, depth, dfloor, mfloor) AS (
        SELECT line, depth,
            CASE WHEN :limit IS NULL THEN -1
                WHEN :kind IS NULL THEN depth - :limit
                -- depth >= message_index on every entry: a bound the index can use
                WHEN :kind = 'message' THEN message_index - :limit ELSE -1 END,
            CASE WHEN :limit IS NOT NULL AND :kind = 'message'
                THEN message_index - :limit ELSE -1 END
        FROM agentsession_entries WHERE session_pk = :pk AND id = :start
    ), seg(line, top) AS (
        SELECT line, depth FROM st
        UNION ALL
        SELECT p.line, p.depth FROM seg, st
        JOIN agentsession_entries f ON f.session_pk = :pk AND f.line = seg.line
            AND f.depth = (SELECT min(m.depth) FROM agentsession_entries m
                           WHERE m.session_pk = :pk AND m.line = seg.line)
        JOIN agentsession_entries p ON p.session_pk = :pk AND p.id = f.parent_id
        WHERE p.depth > st.dfloor AND p.message_index > st.mfloor
    )
    SELECT e.id, e.parent_id, e.kind, e.created_at, e.depth, e.message_index, e.digest,
        e.checksum, {data}
    FROM st CROSS JOIN seg CROSS JOIN agentsession_entries e
    WHERE e.session_pk = :pk AND e.line = seg.line
        AND e.depth <= seg.top AND e.depth > st.dfloor
        AND (:kind IS NULL OR e.kind = :kind) AND e.message_index > st.mfloor
    ORDER BY e.depth {"DESC LIMIT :limit" if last else ""}"""


#: (with_data, last) -> the statement; ``last``: deepest first, ``:limit`` of them.
PATH: Final = {
    (data, last): path_sql(with_data=data, last=last)
    for data in (True, False)
    for last in (True, False)
}

# -- checkpoints -------------------------------------------------------------

CHECKPOINT_COLUMNS: Final = "id, entry_id, created_at, name, metadata, checksum"
SELECT_CHECKPOINT: Final = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM agentsession_checkpoints WHERE session_pk = ? AND id = ?"
)
SELECT_CHECKPOINTS: Final = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM agentsession_checkpoints WHERE session_pk = ?"
    " ORDER BY created_at, id"
)
SAVE_CHECKPOINT: Final = """
    INSERT INTO agentsession_checkpoints
        (session_pk, id, entry_id, created_at, name, metadata, checksum)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (session_pk, id) DO UPDATE SET entry_id = excluded.entry_id,
        created_at = excluded.created_at, name = excluded.name,
        metadata = excluded.metadata, checksum = excluded.checksum"""
ENTRY_EXISTS: Final = "SELECT 1 FROM agentsession_entries WHERE session_pk = ? AND id = ?"

# -- conversions -------------------------------------------------------------


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch (exact)."""
    return (moment - _EPOCH) // _US


def opt_us(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - _EPOCH) // _US


# Below 2**31 seconds (2038) a float timestamp is within 0.12 us of the exact
# value, so fromtimestamp rounds it to the exact microsecond -- at half the
# cost of datetime arithmetic. Later instants take the exact path.
_FAST_BELOW: Final = 2**31 * 1_000_000
_from_timestamp = datetime.fromtimestamp


def at_us(value: int) -> datetime:
    if 0 <= value < _FAST_BELOW:
        return _from_timestamp(value / 1e6, UTC)
    return _EPOCH + timedelta(0, 0, value)


def from_us(value: int | None) -> datetime | None:
    return None if value is None else at_us(value)


def load_object(text: str) -> dict[str, Any]:
    """Decode a stored JSON object.

    What this store writes is canonical JSON with nothing around it, so the
    C scanner is called directly (``json.loads`` adds a few microseconds of
    checks per call, which add up on a 1 000-entry path).

    Raises:
        IntegrityError: the stored text is not a JSON object.
    """
    try:
        value, end = scan_json(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text) or not isinstance(value, dict):
        raise IntegrityError("stored data is not a JSON object")
    return value


def row_to_info(row: Sequence[Any]) -> SessionInfo:
    """A ``SESSION_COLUMNS`` row (``pk`` first) as a :class:`SessionInfo`."""
    return SessionInfo(
        id=row[1],
        agent=row[2],
        user_id=row[3],
        created_at=at_us(row[4]),
        updated_at=at_us(row[5]),
        metadata=load_object(row[6]),
        head=row[7],
        message_count=row[8],
        revision=row[9],
        expires_at=from_us(row[10]),
        deadline=from_us(row[11]),
        idle_timeout=row[12],
        max_messages=row[13],
        last_checkpoint_at=from_us(row[14]),
    )


def info_params(info: SessionInfo, metadata_json: str) -> tuple[Any, ...]:
    """The values of ``INSERT_SESSION`` for ``info``."""
    return (
        info.id,
        info.agent,
        info.user_id,
        to_us(info.created_at),
        to_us(info.updated_at),
        metadata_json,
        info.head,
        info.message_count,
        info.revision,
        opt_us(info.expires_at),
        opt_us(info.deadline),
        info.idle_timeout,
        info.max_messages,
        opt_us(info.last_checkpoint_at),
    )


_NO_DATA: Final[Mapping[str, Any]] = {}


def row_to_entry(row: Sequence[Any]) -> Entry:
    """An ``ENTRY_COLUMNS, data`` row; a NULL data column gives empty data."""
    data = _NO_DATA if row[8] is None else load_object(row[8])
    # Positional: this runs once per entry of a path, keywords cost 25% more.
    return Entry(row[0], row[1], row[2], at_us(row[3]), data, row[4], row[5], row[6], row[7])


def stored_entries(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    """Entries of a path read to be verified: each one's data stays its
    stored text (:class:`StoredJSON`)."""
    return _built(rows, [_NO_DATA if r[8] is None else StoredJSON(r[8]) for r in rows])


def rows_to_entries(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    """:func:`row_to_entry` for a page of rows, cheaper per row: the data of
    the whole page is decoded by one scan of the texts joined into an array,
    and rows written together share their ``created_at`` conversion. A page
    that does not decode that way (NULL data, damage) goes row by row, which
    says which row is wrong."""
    datas = load_object_page([row[8] for row in rows])
    if datas is None:
        return [row_to_entry(row) for row in rows]
    return _built(rows, datas)


def _built(rows: Sequence[Sequence[Any]], datas: Sequence[Mapping[str, Any]]) -> list[Entry]:
    """The entries of ``rows`` with the data given for each; rows written
    together share their ``created_at`` conversion."""
    times: dict[int, datetime] = {}
    entries = []
    for row, data in zip(rows, datas, strict=True):
        when = times.get(row[3])
        if when is None:
            when = times[row[3]] = at_us(row[3])
        # Inline (no helper call): this is the last-100 read's inner loop.
        entries.append(Entry(row[0], row[1], row[2], when, data, row[4], row[5], row[6], row[7]))
    return entries


def row_to_checkpoint(row: Sequence[Any], session_id: str) -> Checkpoint:
    return Checkpoint(
        id=row[0],
        session_id=session_id,
        entry_id=row[1],
        created_at=at_us(row[2]),
        name=row[3],
        metadata=load_object(row[4]),
        checksum=row[5],
    )


def assign_lines(entries: Iterable[Entry]) -> list[int]:
    """The line of each entry of an import (parents listed before children),
    by the rule appends follow."""
    line_of: dict[str, int] = {}
    has_child: set[str] = set()
    lines: list[int] = []
    newest = 0
    for entry in entries:
        parent = entry.parent_id
        if parent is None or parent in has_child or parent not in line_of:
            newest += 1
            line = newest
        else:
            line = line_of[parent]
        if parent is not None:
            has_child.add(parent)
        line_of[entry.id] = line
        lines.append(line)
    return lines
