"""SQL text of the PostgreSQL store (no I/O).

Every store call is one statement. Writes lock the session row inside the
statement (``SELECT ... FOR NO KEY UPDATE`` in a CTE), decide a ``status``
(``ok``, ``missing``, ``conflict``, ``limit``, ``invalid``) and only write
when it is ``ok``, so the caller learns the outcome from the statement's one
result row -- no second round trip, and nothing written on failure.

Paths are read two ways, chosen inside the statement by the session's
``linear`` flag. While the history is one chain (no append ever went under
a head that was not the deepest entry), the path to any entry is every entry
at a smaller depth, and its last N messages are the ones whose
``message_index`` lies in ``(count - N, count]``: a bounded range scan on
``(session_pk, message_index)``, cheap under any plan, so generic plans are
safe. Once the tree has branched, a recursive CTE walks parent links back
from the start entry and stops after ``limit`` entries of the kind asked
for. Either way the cost follows ``limit``, not the history.

Results that carry a session with entries or checkpoints use the row layout
of ``agentsession.stores.postgres._rows``: ``part, ord, flag``, eight shared slots,
six more session columns, and an entry's path checksum.
"""

from __future__ import annotations

import re
from typing import Final

from agentsession._exceptions import InvalidInput

__all__ = ["Statements", "quote_schema"]

_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quote_schema(schema: str | None) -> str:
    """The table-name prefix for ``schema``: ``'"name".'``, or ``''`` for the search_path."""
    if schema is None:
        return ""
    if _SCHEMA.fullmatch(schema) is None:
        raise InvalidInput("schema must match [A-Za-z_][A-Za-z0-9_]{0,62}")
    return f'"{schema}".'


# -- the row layout ----------------------------------------------------------------

_SLOT_TYPES: Final = ("text", "text", "text", "timestamptz", "text", "bigint", "bigint", "text")
_SESSION_SLOTS: Final = (
    "id", "agent", "user_id", "created_at", "metadata::text", "message_count", "revision", "head",
)  # fmt: skip
_SESSION_EXTRA: Final = (
    ("updated_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("deadline", "timestamptz"),
    ("idle_timeout", "float8"),
    ("max_messages", "int"),
    ("last_checkpoint_at", "timestamptz"),
)
_ENTRY_SLOTS: Final = (
    "id", "parent_id", "kind", "created_at", "data::text", "depth", "message_index", "digest",
)  # fmt: skip
_CHECKPOINT_SLOTS: Final = (
    "id", "entry_id", "name", "created_at", "metadata::text", None, None, "checksum",
)  # fmt: skip


def session_columns(alias: str) -> str:
    """The 14 session columns in row-layout order (slots, then the extra six)."""
    names = [*_SESSION_SLOTS, *(name for name, _ in _SESSION_EXTRA)]
    return ", ".join(f"{alias}.{name}" for name in names)


def _row(
    part: int,
    ord_: str,
    alias: str,
    slots: tuple[str | None, ...],
    *,
    flag: str = "NULL",
    data: bool = True,
) -> str:
    """A SELECT list of the row layout: ``alias``'s columns in the slots (and
    the extra session columns when ``slots`` is the session's, the checksum
    when they are an entry's), NULLs elsewhere."""
    cols = [f"{part} AS part", f"{ord_}::bigint AS ord", f"{flag}::text AS flag"]
    for n, (name, kind) in enumerate(zip(slots, _SLOT_TYPES, strict=True), 1):
        empty = name is None or (name == "data::text" and not data)
        cols.append(f"{'NULL' if empty else f'{alias}.{name}'}::{kind} AS x{n}")
    session = slots is _SESSION_SLOTS
    for n, (name, kind) in enumerate(_SESSION_EXTRA, 1):
        cols.append(f"{f'{alias}.{name}' if session else 'NULL'}::{kind} AS y{n}")
    cols.append(f"{f'{alias}.checksum' if slots is _ENTRY_SLOTS else 'NULL'}::text AS z1")
    return "SELECT " + ", ".join(cols)


def _session_part(flag: str = "NULL") -> str:
    return _row(0, "NULL", "s", _SESSION_SLOTS, flag=flag) + " FROM s"


def _entries_part(alias: str, *, data: bool = True) -> str:
    return _row(1, f"{alias}.depth", alias, _ENTRY_SLOTS, data=data)


def _checkpoints_part(alias: str) -> str:
    return _row(2, f"{alias}.seq", alias, _CHECKPOINT_SLOTS)


# -- statement fragments --------------------------------------------------------------

_LIVE: Final = "(s.expires_at IS NULL OR s.expires_at > %(now)s)"
# An expired session with the id is replaced. The insert must reference
# ``gone``: an unreferenced data-modifying CTE runs after the main statement,
# whose unique check would then still see the old row.
_GONE: Final = "gone AS (DELETE FROM {T} WHERE id = %(sid)s AND expires_at <= %(now)s RETURNING pk)"
# Replacing a session: the row at the expected revision goes (its entries and
# checkpoints with it, by cascade), and the insert runs only if it went.
_REPLACED: Final = (
    "gone AS (DELETE FROM {T} WHERE id = %(sid)s AND revision = %(expected)s::bigint RETURNING pk)"
)
_SESSION_INSERT: Final = """
INSERT INTO {T} (id, agent, user_id, created_at, updated_at, metadata, head, head_depth,
    max_depth, tip, linear, message_count, revision, expires_at, deadline, idle_timeout,
    max_messages, last_checkpoint_at, head_checksum, head_checksum_for)
SELECT %(sid)s, %(agent)s, %(user_id)s, %(created_at)s, %(updated_at)s,
    %(metadata)s::jsonb, %(head)s, %(head_depth)s, %(max_depth)s, %(tip)s, %(linear)s,
    %(message_count)s, %(revision)s, %(expires_at)s, %(deadline)s,
    %(idle_timeout)s::float8, %(max_messages)s, %(last_checkpoint_at)s,
    %(head_checksum)s::text, %(head)s
WHERE (SELECT count(*) FROM gone) >= 0"""
_ONE_ROW: Final = """(SELECT %(id)s::text AS id, NULL::text AS parent_id, %(kind)s::text AS kind,
    %(created)s::timestamptz AS created_at, %(data)s::text AS data, %(mi)s::int AS mi,
    %(digest)s::text AS digest, 1::bigint AS ord) AS u"""
# Arrays go in binary (%b): psycopg's text format escapes every element.
_MANY_ROWS: Final = """unnest(%(ids)b::text[], %(parents)b::text[], %(kinds)b::text[],
    %(created)b::timestamptz[], %(data)b::text[], %(mis)b::int[], %(digests)b::text[])
    WITH ORDINALITY AS u(id, parent_id, kind, created_at, data, mi, digest, ord)"""
_MISSING: Final = "WHEN cur.expires_at IS NOT NULL AND cur.expires_at <= %(now)s THEN 'missing'"
_KIND: Final = "(%(kind)s::text IS NULL OR e.kind = %(kind)s::text)"


class Statements:
    """Every statement of the store, for tables under one schema prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        T, E, C = (f"{prefix}agentsession_{n}" for n in ("session", "entry", "checkpoint"))
        S = session_columns("s")
        live_s = f"s AS (SELECT * FROM {T} AS s WHERE s.id = %(sid)s AND {_LIVE})"
        status = f"SELECT st.status, {S} FROM st LEFT JOIN upd AS s ON true"
        bump = "revision = s.revision + 1, updated_at = %(now)s, expires_at = %(expires_at)s"

        self.get = f"SELECT {S} FROM {T} AS s WHERE s.id = %(sid)s AND {_LIVE}"
        self.exists = f"SELECT 1 FROM {T} WHERE id = %(sid)s"
        self.create = f"WITH {_GONE.format(T=T)} {_SESSION_INSERT.format(T=T)} RETURNING pk"
        # (erased, still there): a row left means its revision did not match
        # (checked on the row's latest version, after any concurrent write).
        self.delete = f"""
            WITH gone AS (
                DELETE FROM {T} AS s WHERE s.id = %(sid)s
                AND (%(revision)s::bigint IS NULL OR s.revision = %(revision)s::bigint)
                RETURNING s.pk)
            SELECT (SELECT count(*) FROM gone), EXISTS (SELECT 1 FROM {T} WHERE id = %(sid)s)"""
        self.prune = f"""
            WITH doomed AS (
                SELECT pk FROM {T} WHERE expires_at <= %(now)s
                ORDER BY expires_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
            DELETE FROM {T} WHERE pk IN (SELECT pk FROM doomed) RETURNING pk"""
        self.update = f"""
            UPDATE {T} AS s SET metadata = s.metadata || %(patch)s::jsonb, {bump}
            WHERE s.id = %(sid)s AND {_LIVE}
            AND (%(revision)s::bigint IS NULL OR s.revision = %(revision)s::bigint)
            RETURNING {S}"""
        self.rotate = f"""
            WITH gone AS (
                DELETE FROM {T} WHERE id = %(new)s AND expires_at <= %(now)s RETURNING pk)
            UPDATE {T} AS s SET id = %(new)s,
                user_id = CASE WHEN %(set_user)s THEN %(user_id)s::text ELSE s.user_id END,
                {bump}
            WHERE s.id = %(sid)s AND {_LIVE} AND (SELECT count(*) FROM gone) >= 0
            RETURNING {S}"""
        self._list = f"""
            SELECT {S} FROM {T} AS s WHERE {_LIVE}{{where}}
            ORDER BY s.updated_at DESC, s.id DESC LIMIT %(limit)s OFFSET %(offset)s"""

        # append: lock, decide, insert under the base (the head, or nothing for
        # a new root), advance the row. The chain stays linear only while the
        # head is the deepest entry, and a second root ends it. Path checksums
        # chain on the base's, read from the locked row (the latest version,
        # whatever the statement's snapshot): kept there for the head it names
        # and well formed, else not known (b_sum NULL under a base), and then
        # the new entries get none either, as ``place_entries`` does.
        append = f"""
            WITH cur AS (
                SELECT pk, head, head_depth, max_depth, tip, linear, message_count,
                    max_messages, expires_at,
                    CASE WHEN %(root)s::boolean THEN NULL ELSE head END AS b_head,
                    CASE WHEN %(root)s::boolean THEN 0 ELSE head_depth END AS b_depth,
                    CASE WHEN %(root)s::boolean THEN 0 ELSE message_count END AS b_count,
                    CASE WHEN NOT %(root)s::boolean AND head_checksum_for = head
                        AND length(head_checksum) = 43 AND head_checksum !~ '[^A-Za-z0-9_-]'
                        THEN head_checksum END AS b_sum
                FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), st AS (
                SELECT cur.*, CASE {_MISSING}
                    WHEN %(check)s AND cur.head IS DISTINCT FROM %(expected)s::text
                        THEN 'conflict'
                    WHEN cur.max_messages IS NOT NULL
                        AND cur.b_count + %(added)s > cur.max_messages THEN 'limit'
                    ELSE 'ok' END AS status,
                    CASE WHEN cur.b_head IS NULL OR cur.b_sum IS NOT NULL
                        THEN {{sums}} END AS sums
                FROM cur
            ), ins AS (
                INSERT INTO {E} (session_pk, id, parent_id, kind, created_at, data, depth,
                    message_index, digest, checksum)
                SELECT st.pk, u.id, coalesce(u.parent_id, st.b_head), u.kind, u.created_at,
                    u.data::jsonb, st.b_depth + u.ord, st.b_count + u.mi, u.digest,
                    st.sums[u.ord]
                FROM st, {{rows}}
                WHERE st.status = 'ok'
            ), upd AS (
                UPDATE {T} AS s SET head = %(last)s, head_depth = st.b_depth + %(count)s,
                    max_depth = greatest(st.max_depth, st.b_depth + %(count)s),
                    tip = CASE WHEN st.b_depth + %(count)s > st.max_depth THEN %(last)s
                        ELSE st.tip END,
                    linear = st.linear AND st.head_depth = st.max_depth
                        AND NOT %(root)s::boolean,
                    message_count = st.b_count + %(added)s,
                    head_checksum = st.sums[%(count)s], head_checksum_for = %(last)s, {bump}
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            )
            SELECT st.status, st.b_head, st.b_depth, st.b_count, st.b_sum, {S}
            FROM st LEFT JOIN upd AS s ON true"""
        # One entry (the hot path) binds scalars: arrays cost the client and
        # the server more than the rest of the statement.
        self.append_one = append.format(
            rows=_ONE_ROW, sums=f"ARRAY[{prefix}agentsession_chain(cur.b_sum, %(digest)s::text)]"
        )
        self.append = append.format(
            rows=_MANY_ROWS, sums=f"{prefix}agentsession_chains(cur.b_sum, %(digests)b::text[])"
        )

        self.set_head = f"""
            WITH cur AS (
                SELECT pk, revision, expires_at FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), t AS (
                SELECT e.depth, e.message_index, e.checksum FROM {E} AS e, cur
                WHERE e.session_pk = cur.pk AND e.id = %(entry)s::text
            ), st AS (
                SELECT cur.pk, CASE {_MISSING}
                    WHEN %(revision)s::bigint IS NOT NULL AND cur.revision <> %(revision)s::bigint
                        THEN 'conflict'
                    WHEN %(entry)s::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM t)
                        THEN 'invalid'
                    ELSE 'ok' END AS status
                FROM cur
            ), upd AS (
                UPDATE {T} AS s SET head = %(entry)s::text,
                    head_depth = coalesce((SELECT depth FROM t), 0),
                    message_count = coalesce((SELECT message_index FROM t), 0),
                    head_checksum = (SELECT checksum FROM t), head_checksum_for = %(entry)s::text,
                    {bump}
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            ) {status}"""

        self.save_checkpoint = f"""
            WITH cur AS (
                SELECT pk, expires_at FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), st AS (
                SELECT cur.pk, CASE {_MISSING}
                    WHEN %(entry)s::text IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM {E} AS e WHERE e.session_pk = cur.pk
                            AND e.id = %(entry)s::text) THEN 'invalid'
                    ELSE 'ok' END AS status
                FROM cur
            ), ins AS (
                INSERT INTO {C} (session_pk, id, entry_id, created_at, name, metadata, checksum)
                SELECT st.pk, %(cid)s, %(entry)s::text, %(created_at)s, %(name)s::text,
                    %(metadata)s::jsonb, %(checksum)s
                FROM st WHERE st.status = 'ok'
            ), upd AS (
                UPDATE {T} AS s SET last_checkpoint_at = %(now)s, {bump}
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            ) {status}"""

        # A path back to the root from `start` (pk, fast, id, depth and message
        # count of the path's last entry). `fast` (a linear session, and no
        # limit or only messages wanted): the path is every entry at a smaller
        # depth, and its last N messages are those with message_index in
        # (mc - N, mc] -- a bounded range scan, whatever plan is chosen.
        # Otherwise a recursive walk that stops after `limit` entries of the kind;
        # its step is a LATERAL lookup so that no plan can turn it into a hash
        # join that scans the whole table at every step (the planner's choice
        # on small tables, which a cached generic plan would keep).
        def path(limit: str, kind: str, *, data: bool = True) -> str:
            return f"""
            lin AS (
                SELECT e.* FROM start JOIN {E} AS e ON e.session_pk = start.pk
                    AND e.message_index <= start.mc
                    AND e.message_index > coalesce(start.mc - {limit}, -1)
                    AND e.depth <= start.depth AND {kind}
                WHERE start.fast
            ), w AS (
                SELECT e.*, {kind}::int AS n FROM start JOIN {E} AS e
                    ON e.session_pk = start.pk AND e.id = start.id
                WHERE NOT start.fast AND coalesce({limit}, 1) > 0
              UNION ALL
                SELECT e.*, w.n + {kind}::int FROM w CROSS JOIN LATERAL (
                    SELECT * FROM {E} AS e
                    WHERE e.session_pk = w.session_pk AND e.id = w.parent_id LIMIT 1) AS e
                WHERE {limit} IS NULL OR w.n < {limit}
            )
            {_session_part("%(flag)s")}
            UNION ALL {_entries_part("lin", data=data)} FROM lin
            UNION ALL {_entries_part("w", data=data)} FROM w WHERE {kind.replace("e.", "w.")}"""

        read_from = f"""
            WITH RECURSIVE {live_s}, b AS (
                SELECT e.parent_id, e.depth, e.message_index - (e.kind = 'message')::int AS mc
                FROM {E} AS e, s WHERE e.session_pk = s.pk AND e.id = %(before)s::text
            ), start AS (
                SELECT s.pk,
                    s.linear AND (%(limit)s::int IS NULL
                        OR %(kind)s::text IS NOT DISTINCT FROM 'message') AS fast,
                    CASE WHEN %(before)s::text IS NULL THEN s.head
                        ELSE (SELECT parent_id FROM b) END AS id,
                    CASE WHEN %(before)s::text IS NULL THEN s.head_depth
                        ELSE (SELECT depth - 1 FROM b) END AS depth,
                    CASE WHEN %(before)s::text IS NULL THEN s.message_count
                        ELSE (SELECT mc FROM b) END AS mc
                FROM s
            ),"""
        flag = (
            "CASE WHEN %(before)s::text IS NULL OR EXISTS (SELECT 1 FROM b) "
            "THEN 'ok' ELSE 'invalid' END"
        )
        self.read_path = {
            data: (read_from + path("%(limit)s::int", _KIND, data=data)).replace("%(flag)s", flag)
            + " ORDER BY part, ord"
            for data in (True, False)
        }
        self.get_checkpoint = f"""
            WITH RECURSIVE {live_s}, c AS (
                SELECT c.* FROM {C} AS c, s WHERE c.session_pk = s.pk AND c.id = %(cid)s
            ), start AS (
                SELECT s.pk, s.linear AS fast, e.id, e.depth, e.message_index AS mc
                FROM s, c, {E} AS e
                WHERE %(with_path)s AND e.session_pk = s.pk AND e.id = c.entry_id
            ), {path("NULL::int", "true").replace("%(flag)s", "NULL")}
            UNION ALL {_checkpoints_part("c")} FROM c
            ORDER BY part, ord"""
        self.list_checkpoints = f"""
            WITH {live_s}
            {_session_part()}
            UNION ALL {_checkpoints_part("c")} FROM s JOIN {C} AS c ON c.session_pk = s.pk
            ORDER BY part, ord"""
        self.get_entry = f"""
            WITH {live_s}
            {_session_part()}
            UNION ALL {_entries_part("e")}
                FROM s JOIN {E} AS e ON e.session_pk = s.pk AND e.id = %(entry)s::text
            ORDER BY part, ord"""
        # Leaves: in a linear session only the deepest entry; else every entry
        # nothing points to.
        self.list_leaves = f"""
            WITH {live_s}
            {_session_part()}
            UNION ALL {_entries_part("e")} FROM s JOIN {E} AS e ON e.session_pk = s.pk
                WHERE s.linear AND e.id = s.tip
            UNION ALL {_entries_part("e")} FROM s JOIN {E} AS e ON e.session_pk = s.pk
                WHERE NOT s.linear AND NOT EXISTS (SELECT 1 FROM {E} AS x
                    WHERE x.session_pk = e.session_pk AND x.parent_id = e.id)
            ORDER BY part, ord"""
        self.export = f"""
            WITH {live_s}
            {_session_part()}
            UNION ALL {_entries_part("e")} FROM s JOIN {E} AS e ON e.session_pk = s.pk
            UNION ALL {_checkpoints_part("c")} FROM s JOIN {C} AS c ON c.session_pk = s.pk
            ORDER BY part, ord, x4, x1"""
        self.import_ = self._import(T, E, C, _GONE)
        self.import_replace = self._import(T, E, C, _REPLACED).replace(
            "(SELECT count(*) FROM gone) >= 0", "(SELECT count(*) FROM gone) = 1"
        )

    @staticmethod
    def _import(T: str, E: str, C: str, gone: str) -> str:
        return f"""
            WITH {gone.format(T=T)}, s AS ({_SESSION_INSERT.format(T=T)} RETURNING pk
            ), e AS (
                INSERT INTO {E} (session_pk, id, parent_id, kind, created_at, data, depth,
                    message_index, digest, checksum)
                SELECT s.pk, u.id, u.parent_id, u.kind, u.created_at, u.data::jsonb, u.depth,
                    u.mi, u.digest, u.checksum
                FROM s, unnest(%(ids)b::text[], %(parents)b::text[], %(kinds)b::text[],
                    %(created)b::timestamptz[], %(data)b::text[], %(depths)b::int[],
                    %(mis)b::int[], %(digests)b::text[], %(checksums)b::text[])
                    AS u(id, parent_id, kind, created_at, data, depth, mi, digest, checksum)
            ), c AS (
                INSERT INTO {C} (session_pk, id, entry_id, created_at, name, metadata, checksum)
                SELECT s.pk, u.id, u.entry_id, u.created_at, u.name, u.metadata::jsonb,
                    u.checksum
                FROM s, unnest(%(c_ids)b::text[], %(c_entries)b::text[],
                    %(c_created)b::timestamptz[], %(c_names)b::text[], %(c_meta)b::text[],
                    %(c_checksums)b::text[]) WITH ORDINALITY
                    AS u(id, entry_id, created_at, name, metadata, checksum, ord)
                ORDER BY u.ord
            ) SELECT pk FROM s"""

    def list_sessions(self, *, agent: bool, user: str) -> str:
        """``user``: ``"any"``, ``"none"`` (unowned only) or ``"eq"``."""
        return self._list.format(where=_filters(agent, user))

    def search(self, *, agent: bool, user: str) -> str:
        """Matching messages of live sessions, best first then newest (paged:
        the caller collapses repeated messages). Filters as :meth:`list_sessions`."""
        p = self.prefix
        return f"""
            WITH q AS (
                SELECT plainto_tsquery(c.language, %(query)s) AS q
                FROM {p}agentsession_search_config AS c LIMIT 1)
            SELECT s.id, e.id, e.digest, e.created_at, {p}agentsession_text(e.data),
                e.data ->> 'role', ts_rank(e.search, q.q) AS rank
            FROM q, {p}agentsession_entry AS e
            JOIN {p}agentsession_session AS s ON s.pk = e.session_pk
            WHERE e.search @@ q.q AND {_LIVE}{_filters(agent, user)}
            ORDER BY rank DESC, e.created_at DESC
            LIMIT %(limit)s OFFSET %(offset)s"""


def _filters(agent: bool, user: str) -> str:
    where = " AND s.agent = %(agent)s" if agent else ""
    owner = {"any": "", "none": " AND s.user_id IS NULL", "eq": " AND s.user_id = %(user)s"}
    return where + owner[user]
