"""The PostgreSQL schema, as versioned migrations (I/O-free).

``MIGRATIONS`` is append-only: a released migration is never edited; a change
of schema is a new ``(version, name, sql)`` at the end. ``{p}`` in the SQL is
the (quoted, dot-terminated) schema prefix, empty for the ``search_path``.

The store applies the pending ones on first use, inside one transaction that
holds ``pg_advisory_xact_lock`` on a key derived from the schema, so two
processes racing to migrate a fresh database serialise and the second finds
nothing left to do. Each applied version is a row of
``agentsession_migration``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS", "MIGRATIONS_TABLE", "latest_version"]

MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS {p}agentsession_migration (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

_INITIAL: Final = """
CREATE TABLE {p}agentsession_session (
    pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    agent text NOT NULL,
    user_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    metadata jsonb NOT NULL,
    head text,
    head_depth integer NOT NULL DEFAULT 0,
    max_depth integer NOT NULL DEFAULT 0,
    tip text,
    linear boolean NOT NULL DEFAULT true,
    message_count integer NOT NULL DEFAULT 0,
    revision bigint NOT NULL DEFAULT 0,
    expires_at timestamptz,
    deadline timestamptz,
    idle_timeout double precision,
    max_messages integer,
    last_checkpoint_at timestamptz
);
CREATE INDEX agentsession_session_updated
    ON {p}agentsession_session (updated_at DESC, id DESC);
CREATE INDEX agentsession_session_agent
    ON {p}agentsession_session (agent, updated_at DESC, id DESC);
CREATE INDEX agentsession_session_user
    ON {p}agentsession_session (user_id, updated_at DESC, id DESC);
CREATE INDEX agentsession_session_expiry
    ON {p}agentsession_session (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE {p}agentsession_entry (
    session_pk bigint NOT NULL
        REFERENCES {p}agentsession_session (pk) ON DELETE CASCADE,
    id text NOT NULL,
    parent_id text,
    kind text NOT NULL,
    created_at timestamptz NOT NULL,
    depth integer NOT NULL,
    message_index integer NOT NULL,
    digest text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (session_pk, id)
);
CREATE INDEX agentsession_entry_message_index
    ON {p}agentsession_entry (session_pk, message_index);

CREATE TABLE {p}agentsession_checkpoint (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    session_pk bigint NOT NULL
        REFERENCES {p}agentsession_session (pk) ON DELETE CASCADE,
    id text NOT NULL,
    entry_id text,
    created_at timestamptz NOT NULL,
    name text,
    metadata jsonb NOT NULL,
    checksum text NOT NULL,
    PRIMARY KEY (session_pk, id)
);
"""

# Full-text search. ``agentsession_text`` is the searchable text of a
# message, the same strings ``agentsession._search.message_text`` takes: those
# under a content/text/parts key (through lists; in a nested object, again
# only under those keys). Each message's ``tsvector`` is a stored generated
# column in the text search configuration ``{lang}`` (the store's
# ``search_language`` when this migration runs: a rewrite of the entry
# table), recorded in ``agentsession_search_config`` for the queries.
_SEARCH: Final = """
CREATE FUNCTION {p}agentsession_text(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH RECURSIVE walk(v, under, depth) AS (
        SELECT doc, false, 0
        UNION ALL
        SELECT c.v, c.under, w.depth + 1 FROM walk AS w, LATERAL (
            SELECT o.value AS v, o.key IN ('content', 'text', 'parts') AS under
            FROM jsonb_each(CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v END) AS o
            UNION ALL
            SELECT a.value, w.under
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v END) AS a
        ) AS c WHERE w.depth < 24
    )
    SELECT string_agg(v #>> ARRAY[]::text[], E'\\n') FROM walk
    WHERE under AND jsonb_typeof(v) = 'string'
$$;
CREATE TABLE {p}agentsession_search_config (language regconfig NOT NULL);
INSERT INTO {p}agentsession_search_config VALUES ('{lang}');
ALTER TABLE {p}agentsession_entry ADD COLUMN search tsvector
    GENERATED ALWAYS AS (CASE WHEN kind = 'message'
        THEN to_tsvector('{lang}'::regconfig, coalesce({p}agentsession_text(data), '')) END)
    STORED;
CREATE INDEX agentsession_entry_search ON {p}agentsession_entry USING gin (search);
"""

# Path checksums (``docs/design.md``, "Store protocol", "Path checksums").
# ``agentsession_chain(parent, digest)`` is one step of the chained checksum
# (``agentsession._canonical.chain_steps``), in the text form the store keeps
# (43 base64url characters): ``parent`` NULL starts from SHA-256 of nothing.
# ``agentsession_chains`` steps through a batch, carrying the raw value (half
# the cost of calling the step each time). STABLE, as ``convert_to`` is: a
# SQL function is inlined into the statement that calls it only when its body
# is no less volatile than it says (run as a function of its own, a step
# costs about 40 us instead of 5). Each entry keeps its own
# (``checksum``); the session row keeps its head's (``head_checksum``) with
# the head it belongs to (``head_checksum_for``), because the append reads
# the row it locks, not the head entry: an entry committed by a concurrent
# appender after the statement's snapshot would not be visible, the row's
# latest version is. A release that does not keep checksums moves ``head``
# without touching them, so the pair disagrees and the next entries get NULL
# (not known) instead of a checksum chained on another entry.
#
# The backfill computes every entry already there, parents before children:
# a walk down from the roots, level by level. Its step is a LATERAL lookup
# (``OFFSET 0`` keeps it one) through a temporary index on the parent links,
# dropped at the end, so that no level can scan the whole table.
_CHECKSUMS: Final = """
CREATE FUNCTION {p}agentsession_chain(parent text, digest text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT rtrim(translate(encode(sha256(
        coalesce(decode(translate(parent, '-_', '+/') || '=', 'base64'), sha256(''::bytea))
        || convert_to(digest, 'UTF8')), 'base64'), '+/', '-_'), '=')
$$;
CREATE FUNCTION {p}agentsession_chains(parent text, digests text[]) RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    value bytea := coalesce(decode(translate(parent, '-_', '+/') || '=', 'base64'),
        sha256(''::bytea));
    sums text[] := ARRAY[]::text[];
    digest text;
BEGIN
    FOREACH digest IN ARRAY digests LOOP
        value := sha256(value || convert_to(digest, 'UTF8'));
        sums := sums || rtrim(translate(encode(value, 'base64'), '+/', '-_'), '=');
    END LOOP;
    RETURN sums;
END
$$;
ALTER TABLE {p}agentsession_entry ADD COLUMN checksum text;
ALTER TABLE {p}agentsession_session
    ADD COLUMN head_checksum text, ADD COLUMN head_checksum_for text;
CREATE INDEX agentsession_entry_parent_backfill
    ON {p}agentsession_entry (session_pk, parent_id);
WITH RECURSIVE walk(session_pk, id, checksum) AS (
    SELECT e.session_pk, e.id, {p}agentsession_chain(NULL, e.digest)
    FROM {p}agentsession_entry AS e WHERE e.parent_id IS NULL
  UNION ALL
    SELECT c.session_pk, c.id, {p}agentsession_chain(w.checksum, c.digest)
    FROM walk AS w CROSS JOIN LATERAL (
        SELECT e.session_pk, e.id, e.digest FROM {p}agentsession_entry AS e
        WHERE e.session_pk = w.session_pk AND e.parent_id = w.id OFFSET 0) AS c
)
UPDATE {p}agentsession_entry AS e SET checksum = walk.checksum
FROM walk WHERE e.session_pk = walk.session_pk AND e.id = walk.id;
DROP INDEX {p}agentsession_entry_parent_backfill;
UPDATE {p}agentsession_session AS s SET head_checksum = e.checksum, head_checksum_for = s.head
FROM {p}agentsession_entry AS e WHERE e.session_pk = s.pk AND e.id = s.head;
"""

# ``agentsession_text`` again, in PL/pgSQL, with the same result for every
# document. The SQL function cannot be inlined (it walks), so every statement
# that calls it parses and plans its query anew, and the generated column
# calls it in every insert into the entry table: 330 us of the append's 650
# on the server. A PL/pgSQL function keeps its query's plan for the
# connection's life. A message without nested objects or arrays (the usual
# kind) needs no walk at all: its text is the strings directly under the
# keys, in the order the walk visits them (jsonb's key order: shorter keys
# first); a plain expression, which PL/pgSQL evaluates without starting an
# executor (another 45 us). Same strings in the same order, so the
# ``tsvector`` of the rows already there stays what it would be now and
# nothing is rewritten. (A generated column's function may be replaced:
# same signature, still IMMUTABLE.)
_WALK: Final = _SEARCH.split("$$")[1].strip().removesuffix(";")
_SEARCH_TEXT_PLPGSQL: Final = (
    """
CREATE OR REPLACE FUNCTION {p}agentsession_text(doc jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF jsonb_typeof(doc) = 'object' AND NOT jsonb_path_exists(doc,
        'strict $.* ? (@.type() == "object" || @.type() == "array")', '{{}}', true)
    THEN
        RETURN CASE WHEN jsonb_typeof(doc -> 'text') = 'string'
            OR jsonb_typeof(doc -> 'parts') = 'string'
            OR jsonb_typeof(doc -> 'content') = 'string'
        THEN concat_ws(E'\\n',
            CASE WHEN jsonb_typeof(doc -> 'text') = 'string' THEN doc ->> 'text' END,
            CASE WHEN jsonb_typeof(doc -> 'parts') = 'string' THEN doc ->> 'parts' END,
            CASE WHEN jsonb_typeof(doc -> 'content') = 'string' THEN doc ->> 'content' END)
        END;
    END IF;
    RETURN ("""
    + _WALK
    + """);
END
$$;
"""
)

#: ``(version, name, sql)``, oldest first; versions are 1, 2, 3, ...
MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (1, "initial schema", _INITIAL),
    (2, "full-text search", _SEARCH),
    (3, "path checksums", _CHECKSUMS),
    (4, "search text in PL/pgSQL", _SEARCH_TEXT_PLPGSQL),
)


def latest_version() -> int:
    return MIGRATIONS[-1][0]
