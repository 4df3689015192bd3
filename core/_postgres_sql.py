"""SQL text and row conversion of the PostgreSQL store (no I/O).

Every store call is one statement. Writes lock the session row inside the
statement (``SELECT ... FOR NO KEY UPDATE`` in a CTE), decide a ``status``
(``ok``, ``missing``, ``conflict``, ``limit``, ``invalid``) and only write
when it is ``ok``, so the caller learns the outcome from the statement's one
result row -- no second round trip, and nothing written on failure.

Calls that return a session with entries and/or checkpoints use one "wide"
row layout, padded with typed NULLs: ``part, ord, flag``, then the session
columns, the entry columns and the checkpoint columns (see :class:`Wide`).

JSONB stores numbers as ``numeric``, which forgets two things canonical JSON
(and so every digest) depends on: a float's exponent form (``1e+16`` reads
back as the integer ``10000000000000000``) and the sign of ``-0.0``.
:func:`pg_json` therefore writes such floats as ``10000000000000000.0`` and
``0.00`` (a scale Python never produces), and :func:`load_pg_json` maps them
back, so canonical JSON of what is read equals what was written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ._canonical import canonical_json
from ._exceptions import InvalidInput
from ._models import Checkpoint, Entry, SessionInfo

__all__ = ["Statements", "Wide", "load_pg_json", "pg_json", "quote_schema"]

_NEG_ZERO: Final = "0.00"
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
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
    """JSON text for a ``jsonb`` parameter that reads back exactly (see module doc).

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


def quote_schema(schema: str | None) -> str:
    """The table-name prefix for ``schema``: ``'"name".'``, or ``''`` for the search_path."""
    if schema is None:
        return ""
    if _SCHEMA.fullmatch(schema) is None:
        raise InvalidInput("schema must match [A-Za-z_][A-Za-z0-9_]{0,62}")
    return f'"{schema}".'


# -- column groups of the wide layout ----------------------------------------

_S: Final = (
    ("id", "text"),
    ("agent", "text"),
    ("user_id", "text"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("metadata::text", "text"),
    ("head", "text"),
    ("message_count", "int"),
    ("revision", "bigint"),
    ("expires_at", "timestamptz"),
    ("deadline", "timestamptz"),
    ("idle_timeout", "float8"),
    ("max_messages", "int"),
    ("last_checkpoint_at", "timestamptz"),
)
_E: Final = (
    ("id", "text"),
    ("parent_id", "text"),
    ("kind", "text"),
    ("created_at", "timestamptz"),
    ("data::text", "text"),
    ("depth", "int"),
    ("message_index", "int"),
    ("digest", "text"),
)
_C: Final = (
    ("id", "text"),
    ("entry_id", "text"),
    ("created_at", "timestamptz"),
    ("name", "text"),
    ("metadata::text", "text"),
    ("checksum", "text"),
)
S_END: Final = len(_S)
_E_AT: Final = 3 + len(_S)
_C_AT: Final = _E_AT + len(_E)


def _cols(
    group: tuple[tuple[str, str], ...], alias: str | None, label: str = "", *, data: bool = True
) -> str:
    """The columns of ``group`` from ``alias`` (typed NULLs when None), named
    ``<label><column>`` when ``label`` is given (the first branch of a UNION)."""
    out = []
    for name, kind in group:
        expr = f"{alias}.{name}" if alias is not None else f"NULL::{kind}"
        if name == "data::text" and not data:
            expr = "NULL::text"
        out.append(f"{expr} AS {label}{name.split(':')[0]}" if label else expr)
    return ", ".join(out)


def _wide(
    part: int,
    ord_: str,
    flag: str,
    s: str | None = None,
    e: str | None = None,
    c: str | None = None,
    *,
    data: bool = True,
) -> str:
    return (
        f"SELECT {part} AS part, {ord_}::bigint AS ord, {flag}::text AS flag, "
        f"{_cols(_S, s, 's_')}, {_cols(_E, e, 'e_', data=data)}, {_cols(_C, c, 'c_')}"
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def session_from_row(row: Sequence[Any], at: int = 0) -> SessionInfo:
    r = row[at : at + S_END]
    return SessionInfo(
        id=r[0],
        agent=r[1],
        user_id=r[2],
        created_at=_utc(r[3]),  # type: ignore[arg-type]
        updated_at=_utc(r[4]),  # type: ignore[arg-type]
        metadata=load_pg_json(r[5]),
        head=r[6],
        message_count=r[7],
        revision=r[8],
        expires_at=_utc(r[9]),
        deadline=_utc(r[10]),
        idle_timeout=r[11],
        max_messages=r[12],
        last_checkpoint_at=_utc(r[13]),
    )


def _entry_factory() -> Callable[..., Entry]:
    # Reading a path builds one Entry per row, and a frozen dataclass's
    # __init__ goes through object.__setattr__ per field -- the largest cost
    # of decoding 100 entries. Filling the slots directly gives an equal
    # object at a third of the cost; any other shape of Entry falls back.
    names = tuple(f.name for f in dataclasses.fields(Entry))
    expected = ("id", "parent_id", "kind", "created_at", "data", "depth", "message_index", "digest")
    slots = [Entry.__dict__.get(name) for name in names]
    if names != expected or not all(type(s).__name__ == "member_descriptor" for s in slots):
        return Entry
    s0, s1, s2, s3, s4, s5, s6, s7 = (s.__set__ for s in slots)  # type: ignore[union-attr]
    new = object.__new__

    def make(i: str, p: str | None, k: str, c: datetime, d: Any, de: int, m: int, g: str) -> Entry:
        entry: Entry = new(Entry)
        s0(entry, i)
        s1(entry, p)
        s2(entry, k)
        s3(entry, c)
        s4(entry, d)
        s5(entry, de)
        s6(entry, m)
        s7(entry, g)
        return entry

    return make


make_entry = _entry_factory()


def entry_from_row(row: Sequence[Any], at: int = _E_AT) -> Entry:
    i, p, k, c, d, de, m, g = row[at : at + 8]
    return make_entry(
        i, p, k, c if c.tzinfo is UTC else c.astimezone(UTC), load_pg_json(d), de, m, g
    )


def checkpoint_from_row(row: Sequence[Any], session_id: str, at: int = _C_AT) -> Checkpoint:
    return Checkpoint(
        id=row[at],
        session_id=session_id,
        entry_id=row[at + 1],
        created_at=_utc(row[at + 2]),  # type: ignore[arg-type]
        name=row[at + 3],
        metadata=load_pg_json(row[at + 4]),
        checksum=row[at + 5],
    )


@dataclass
class Wide:
    """A decoded wide result: the flag and session of part 0, entries (part 1)
    and checkpoints (part 2), in the statement's order."""

    flag: str | None = None
    session: SessionInfo | None = None
    entries: list[Entry] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    @classmethod
    def decode(cls, rows: Sequence[Sequence[Any]]) -> Wide:
        result = cls()
        for row in rows:
            part = row[0]
            if part == 0:
                result.flag = row[2]
                result.session = session_from_row(row, 3)
            elif part == 1:
                result.entries.append(entry_from_row(row))
            else:
                assert result.session is not None
                if row[_C_AT] is not None:
                    result.checkpoints.append(checkpoint_from_row(row, result.session.id))
        return result


# -- statements ----------------------------------------------------------------

_LIVE = "({a}.expires_at IS NULL OR {a}.expires_at > %(now)s)"
_SESSION_INSERT = """
INSERT INTO {T} (id, agent, user_id, created_at, updated_at, metadata, head, head_depth,
    message_count, revision, expires_at, deadline, idle_timeout, max_messages,
    last_checkpoint_at)
SELECT %(sid)s, %(agent)s, %(user_id)s, %(created_at)s, %(updated_at)s,
    %(metadata)s::jsonb, %(head)s, %(head_depth)s, %(message_count)s, %(revision)s,
    %(expires_at)s, %(deadline)s, %(idle_timeout)s::float8, %(max_messages)s,
    %(last_checkpoint_at)s
WHERE (SELECT count(*) FROM gone) >= 0"""
# An expired session with the id is replaced. The insert must reference
# ``gone``: an unreferenced data-modifying CTE runs after the main statement,
# whose unique check would then still see the old row.
_ONE_ROW = """(SELECT %(id)s::text AS id, NULL::text AS parent_id, %(kind)s::text AS kind,
    %(created)s::timestamptz AS created_at, %(data)s::text AS data, %(mi)s::int AS mi,
    %(digest)s::text AS digest, 1::bigint AS ord) AS u"""
_MANY_ROWS = """unnest(%(ids)s::text[], %(parents)s::text[], %(kinds)s::text[],
    %(created)s::timestamptz[], %(data)s::text[], %(mis)s::int[], %(digests)s::text[])
    WITH ORDINALITY AS u(id, parent_id, kind, created_at, data, mi, digest, ord)"""
_GONE = "gone AS (DELETE FROM {T} WHERE id = %(sid)s AND expires_at <= %(now)s RETURNING pk)"


class Statements:
    """Every statement of the store, for tables under one schema prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        T, E, C = (f"{prefix}agentsession_{n}" for n in ("session", "entry", "checkpoint"))
        self.tables = (T, E, C)
        live = _LIVE.format(a="s")
        S = _cols(_S, "s")
        gone = _GONE.format(T=T)
        status_update = "SELECT st.status, {S} FROM st LEFT JOIN upd AS s ON true"

        self.get = f"SELECT {S} FROM {T} AS s WHERE s.id = %(sid)s AND {live}"
        self.create = f"WITH {gone} {_SESSION_INSERT.format(T=T)} RETURNING pk"
        self.delete = f"DELETE FROM {T} WHERE id = %(sid)s RETURNING pk"
        self.prune = f"""
            WITH doomed AS (
                SELECT pk FROM {T} WHERE expires_at <= %(now)s
                ORDER BY expires_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
            DELETE FROM {T} WHERE pk IN (SELECT pk FROM doomed)"""
        self.update = f"""
            UPDATE {T} AS s SET metadata = s.metadata || %(patch)s::jsonb,
                revision = s.revision + 1, updated_at = %(now)s, expires_at = %(expires_at)s
            WHERE s.id = %(sid)s AND {live} RETURNING {S}"""
        self.rotate = f"""
            WITH gone AS (
                DELETE FROM {T} WHERE id = %(new)s AND expires_at <= %(now)s RETURNING pk)
            UPDATE {T} AS s SET id = %(new)s,
                user_id = CASE WHEN %(set_user)s THEN %(user_id)s::text ELSE s.user_id END,
                revision = s.revision + 1, updated_at = %(now)s, expires_at = %(expires_at)s
            WHERE s.id = %(sid)s AND {live} AND (SELECT count(*) FROM gone) >= 0
            RETURNING {S}"""
        self._list = f"SELECT {S} FROM {T} AS s WHERE {live}{{where}} " + (
            "ORDER BY s.updated_at DESC, s.id DESC LIMIT %(limit)s OFFSET %(offset)s"
        )

        # append: lock, decide, insert under the head, advance the row.
        self.append = f"""
            WITH cur AS (
                SELECT pk, head, head_depth, message_count, max_messages, expires_at
                FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), st AS (
                SELECT cur.*, CASE
                    WHEN cur.expires_at IS NOT NULL AND cur.expires_at <= %(now)s THEN 'missing'
                    WHEN %(check)s AND cur.head IS DISTINCT FROM %(expected)s::text
                        THEN 'conflict'
                    WHEN cur.max_messages IS NOT NULL
                        AND cur.message_count + %(added)s > cur.max_messages THEN 'limit'
                    ELSE 'ok' END AS status
                FROM cur
            ), ins AS (
                INSERT INTO {E} (session_pk, id, parent_id, kind, created_at, data, depth,
                    message_index, digest)
                SELECT st.pk, u.id, coalesce(u.parent_id, st.head), u.kind, u.created_at,
                    u.data::jsonb, st.head_depth + u.ord, st.message_count + u.mi, u.digest
                FROM st, {{rows}}
                WHERE st.status = 'ok'
            ), upd AS (
                UPDATE {T} AS s SET head = %(last)s, head_depth = st.head_depth + %(count)s,
                    message_count = st.message_count + %(added)s, revision = s.revision + 1,
                    updated_at = %(now)s, expires_at = %(expires_at)s
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            )
            SELECT st.status, st.head, st.head_depth, st.message_count, {S}
            FROM st LEFT JOIN upd AS s ON true"""
        # One entry (the hot path) binds scalars: arrays cost the client and the
        # server more than the rest of the statement.
        self.append_one = self.append.format(rows=_ONE_ROW)
        self.append = self.append.format(rows=_MANY_ROWS)

        self.set_head = f"""
            WITH cur AS (
                SELECT pk, revision, expires_at FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), t AS (
                SELECT e.depth, e.message_index FROM {E} AS e, cur
                WHERE e.session_pk = cur.pk AND e.id = %(entry)s::text
            ), st AS (
                SELECT cur.pk, CASE
                    WHEN cur.expires_at IS NOT NULL AND cur.expires_at <= %(now)s THEN 'missing'
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
                    revision = s.revision + 1, updated_at = %(now)s, expires_at = %(expires_at)s
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            ) {status_update.format(S=S)}"""

        self.save_checkpoint = f"""
            WITH cur AS (
                SELECT pk, expires_at FROM {T} WHERE id = %(sid)s FOR NO KEY UPDATE
            ), st AS (
                SELECT cur.pk, CASE
                    WHEN cur.expires_at IS NOT NULL AND cur.expires_at <= %(now)s THEN 'missing'
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
                UPDATE {T} AS s SET revision = s.revision + 1, updated_at = %(now)s,
                    expires_at = %(expires_at)s, last_checkpoint_at = %(now)s
                FROM st WHERE s.pk = st.pk AND st.status = 'ok'
                RETURNING s.*
            ) {status_update.format(S=S)}"""

        live_s = f"s AS (SELECT * FROM {T} AS s WHERE s.id = %(sid)s AND {live})"
        step = f"JOIN {E} AS e ON e.session_pk = w.session_pk AND e.id = w.parent_id"
        match = "(%(kind)s::text IS NULL OR e.kind = %(kind)s::text)::int"
        before_ok = (
            "CASE WHEN %(before)s::text IS NULL OR EXISTS (SELECT 1 FROM b) "
            "THEN 'ok' ELSE 'invalid' END"
        )
        self.read_path = {
            data: f"""
            WITH RECURSIVE {live_s}, b AS (
                SELECT e.parent_id FROM {E} AS e, s
                WHERE e.session_pk = s.pk AND e.id = %(before)s::text
            ), w AS (
                SELECT e.*, {match} AS n FROM s JOIN {E} AS e ON e.session_pk = s.pk
                    AND e.id = CASE WHEN %(before)s::text IS NULL THEN s.head
                        ELSE (SELECT b.parent_id FROM b) END
                WHERE coalesce(%(limit)s::int, 1) > 0
              UNION ALL
                SELECT e.*, w.n + {match} FROM w {step}
                WHERE %(limit)s::int IS NULL OR w.n < %(limit)s::int
            )
            {_wide(0, "NULL", before_ok, "s")} FROM s
            UNION ALL
            {_wide(1, "w.depth", "NULL", e="w", data=data)} FROM w
                WHERE %(kind)s::text IS NULL OR w.kind = %(kind)s::text
            ORDER BY part, ord"""
            for data in (True, False)
        }
        self.get_checkpoint = f"""
            WITH RECURSIVE {live_s}, c AS (
                SELECT c.* FROM {C} AS c, s WHERE c.session_pk = s.pk AND c.id = %(cid)s
            ), w AS (
                SELECT e.* FROM c JOIN {E} AS e
                    ON e.session_pk = c.session_pk AND e.id = c.entry_id
                WHERE %(with_path)s
              UNION ALL
                SELECT e.* FROM w {step}
            )
            {_wide(0, "NULL", "NULL", "s")} FROM s
            UNION ALL {_wide(1, "w.depth", "NULL", e="w")} FROM w
            UNION ALL {_wide(2, "c.seq", "NULL", c="c")} FROM c
            ORDER BY part, ord"""
        self.list_checkpoints = f"""
            WITH {live_s}
            {_wide(0, "NULL", "NULL", "s")} FROM s
            UNION ALL {_wide(2, "c.seq", "NULL", c="c")}
                FROM s JOIN {C} AS c ON c.session_pk = s.pk
            ORDER BY part, ord"""
        self.get_entry = f"""
            WITH {live_s}
            {_wide(0, "NULL", "NULL", "s")} FROM s
            UNION ALL {_wide(1, "e.depth", "NULL", e="e")}
                FROM s JOIN {E} AS e ON e.session_pk = s.pk AND e.id = %(entry)s::text
            ORDER BY part, ord"""
        self.list_leaves = f"""
            WITH {live_s}
            {_wide(0, "NULL", "NULL", "s")} FROM s
            UNION ALL {_wide(1, "e.depth", "NULL", e="e")}
                FROM s JOIN {E} AS e ON e.session_pk = s.pk
                WHERE NOT EXISTS (SELECT 1 FROM {E} AS x
                    WHERE x.session_pk = e.session_pk AND x.parent_id = e.id)
            ORDER BY part, ord"""
        self.export = f"""
            WITH {live_s}
            {_wide(0, "NULL", "NULL", "s")} FROM s
            UNION ALL {_wide(1, "e.depth", "NULL", e="e")}
                FROM s JOIN {E} AS e ON e.session_pk = s.pk
            UNION ALL {_wide(2, "c.seq", "NULL", c="c")}
                FROM s JOIN {C} AS c ON c.session_pk = s.pk
            ORDER BY part, ord, e_created_at, e_id"""
        self.import_ = f"""
            WITH {gone}, s AS ({_SESSION_INSERT.format(T=T)} RETURNING pk
            ), e AS (
                INSERT INTO {E} (session_pk, id, parent_id, kind, created_at, data, depth,
                    message_index, digest)
                SELECT s.pk, u.id, u.parent_id, u.kind, u.created_at, u.data::jsonb, u.depth,
                    u.mi, u.digest
                FROM s, unnest(%(ids)s::text[], %(parents)s::text[], %(kinds)s::text[],
                    %(created)s::timestamptz[], %(data)s::text[], %(depths)s::int[],
                    %(mis)s::int[], %(digests)s::text[])
                    AS u(id, parent_id, kind, created_at, data, depth, mi, digest)
            ), c AS (
                INSERT INTO {C} (session_pk, id, entry_id, created_at, name, metadata, checksum)
                SELECT s.pk, u.id, u.entry_id, u.created_at, u.name, u.metadata::jsonb,
                    u.checksum
                FROM s, unnest(%(c_ids)s::text[], %(c_entries)s::text[],
                    %(c_created)s::timestamptz[], %(c_names)s::text[], %(c_meta)s::text[],
                    %(c_checksums)s::text[]) WITH ORDINALITY
                    AS u(id, entry_id, created_at, name, metadata, checksum, ord)
                ORDER BY u.ord
            ) SELECT pk FROM s"""

    def list_sessions(self, *, agent: bool, user: str) -> str:
        """``user``: ``"any"``, ``"none"`` (unowned only) or ``"eq"``."""
        where = " AND s.agent = %(agent)s" if agent else ""
        where += {"any": "", "none": " AND s.user_id IS NULL", "eq": " AND s.user_id = %(user)s"}[
            user
        ]
        return self._list.format(where=where)
