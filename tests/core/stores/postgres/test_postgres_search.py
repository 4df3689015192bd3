"""PostgreSQL search: the migrations that add it to an existing database and
move its text function to PL/pgSQL, and the text search configuration it is
built with."""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from agentsession import UNCHECKED, InvalidInput, SessionManager
from agentsession.stores.postgres import _migrations
from agentsession.stores.postgres._sync import store as sync_store
from agentsession.stores.postgres._sync.store import PostgresStore
from tests.core.stores.postgres.test_postgres import dsn, pg_schema, pg_url, url_for

__all__ = ["dsn", "pg_schema", "pg_url"]


def test_a_version_1_database_is_indexed_by_the_migration(dsn: str, pg_schema: str) -> None:
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        alice = manager.create("bot", user_id="alice")
        alice.extend([{"role": "user", "content": "kept before the upgrade"}] * 2)
        bob = manager.create("bot", user_id="bob")
        bob.append({"role": "user", "content": "bob also kept this"})
    # Back to the schema the previous release made: version 1, no search (and
    # none of the later versions' path checksums).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg_schema}")
        conn.execute("ALTER TABLE agentsession_entry DROP COLUMN checksum")
        conn.execute(
            "ALTER TABLE agentsession_session DROP COLUMN head_checksum, "
            "DROP COLUMN head_checksum_for"
        )
        conn.execute("DROP FUNCTION agentsession_chains(text, text[])")
        conn.execute("DROP FUNCTION agentsession_chain(text, text)")
        conn.execute("DELETE FROM agentsession_migration WHERE version IN (3, 4)")
        conn.execute("ALTER TABLE agentsession_entry DROP COLUMN search")
        conn.execute("DROP TABLE agentsession_search_config")
        conn.execute("DROP FUNCTION agentsession_text(jsonb)")
        conn.execute("DELETE FROM agentsession_migration WHERE version = 2")
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        hits = manager.search("kept", user_id="alice")
        assert [h.snippet for h in hits] == ["kept before the upgrade"]  # one hit: same text
        assert {h.session_id for h in manager.search("kept", user_id=UNCHECKED)} == {
            alice.id,
            bob.id,
        }
        assert manager.get(alice.id).messages()[0].data["content"] == "kept before the upgrade"
    with psycopg.connect(dsn, autocommit=True) as conn:
        versions = conn.execute(f"SELECT version FROM {pg_schema}.agentsession_migration")
        assert sorted(v for (v,) in versions) == [1, 2, 3, 4]


@pytest.mark.parametrize(("language", "found"), [("simple", False), ("english", True)])
def test_the_index_language_is_chosen_when_it_is_built(
    dsn: str, pg_schema: str, language: str, found: bool
) -> None:
    url = url_for(dsn, pg_schema) + f"&search_language={language}"
    with SessionManager(url) as manager:
        s = manager.create("bot", user_id="alice")
        s.append({"role": "user", "content": "she runs every morning"})
        assert bool(manager.search("running", user_id="alice")) is found
        assert manager.search("runs", user_id="alice")[0].entry_id == s.head
    # The database keeps its language whatever a later store is told.
    with SessionManager(url_for(dsn, pg_schema) + "&search_language=simple") as manager:
        assert bool(manager.search("running", user_id="alice")) is found


def test_a_search_language_must_be_a_name(dsn: str) -> None:
    pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(dsn, open=False)
    with pytest.raises(InvalidInput):
        PostgresStore(pool, search_language="english; DROP TABLE x")


def _documents(count: int) -> list[dict[str, Any]]:
    """Message-like documents, flat and nested, text under every kind of key."""
    rnd = random.Random(7)
    keys = ["content", "text", "parts", "role", "type", "name", "tool_calls", "ab", "x"]

    def value(depth: int) -> Any:
        r = rnd.random()
        if depth < 4 and r < 0.2:
            return {rnd.choice(keys): value(depth + 1) for _ in range(rnd.randint(0, 4))}
        if depth < 4 and r < 0.35:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return rnd.choice(["hi there", "", "a\nb", 1, 2.5, None, True, "ünï", "x y z"])

    docs = [{rnd.choice(keys): value(1) for _ in range(rnd.randint(0, 5))} for _ in range(count)]
    return [*docs, {}, {"content": ""}, {"text": "t", "parts": "p", "content": "c", "n": 1}]


def test_the_plpgsql_search_text_is_the_walks_for_every_document(dsn: str, pg_schema: str) -> None:
    # Migration 4 must give the text migration 2's function gives, or the
    # tsvectors already stored would differ from new ones (and snippets too).
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        manager.create("bot")  # migrates
    ((_, _, walk),) = [m for m in _migrations.MIGRATIONS if m[0] == 2]
    old = walk.split("CREATE TABLE")[0].replace("{p}agentsession_text", '"{s}".walk_text')
    docs = [json.dumps(d) for d in _documents(3000)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(old.replace("{s}", pg_schema))
        rows = conn.execute(
            f'SELECT d, "{pg_schema}".agentsession_text(d::jsonb), '
            f'"{pg_schema}".walk_text(d::jsonb) FROM unnest(%s::text[]) AS d',
            (docs,),
        ).fetchall()
        (language,) = conn.execute(
            "SELECT l.lanname FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang "
            "WHERE p.oid = %s::regprocedure",
            (f'"{pg_schema}".agentsession_text(jsonb)',),
        ).fetchone() or (None,)
    assert language == "plpgsql"
    assert [d for d, new, was in rows if new != was] == []
    assert sum(new is not None for _, new, _ in rows) > 1000  # text found, not only NULLs


def test_a_version_3_database_moves_its_search_text_to_plpgsql(
    dsn: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[dict[str, Any]] = [
        {"role": "user", "content": "kept before the upgrade"},
        {"role": "assistant", "content": [{"type": "text", "text": "nested kept too"}]},
    ]
    with monkeypatch.context() as m:  # the schema of the previous release
        for module in (_migrations, sync_store):
            m.setattr(module, "MIGRATIONS", _migrations.MIGRATIONS[:3])
        with SessionManager(url_for(dsn, pg_schema)) as manager:
            s = manager.create("bot", user_id="alice")
            s.extend(written)
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(
            f'SELECT id, search FROM "{pg_schema}".agentsession_entry ORDER BY depth'
        ).fetchall()
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        assert {h.snippet for h in manager.search("kept", user_id="alice")} == {
            "kept before the upgrade",
            "nested kept too",
        }
        manager.get(s.id).append({"role": "user", "content": "written after it"})
        assert [h.snippet for h in manager.search("after", user_id="alice")] == ["written after it"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path = "{pg_schema}"')
        versions = conn.execute("SELECT version FROM agentsession_migration").fetchall()
        assert sorted(v for (v,) in versions) == [1, 2, 3, 4]
        # The stored tsvectors are what the new function gives: nothing to rewrite.
        now = conn.execute(
            "SELECT id, to_tsvector(c.language, coalesce(agentsession_text(e.data), '')) "
            "FROM agentsession_entry AS e, agentsession_search_config AS c "
            "WHERE e.id = ANY(%s) ORDER BY e.depth",
            ([i for i, _ in before],),
        ).fetchall()
    assert now == before
