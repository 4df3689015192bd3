"""PostgreSQL search: the migration that adds it to an existing database, and
the text search configuration it is built with."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from agentsession import UNCHECKED, InvalidInput, SessionManager
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
        conn.execute("DELETE FROM agentsession_migration WHERE version = 3")
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
        assert sorted(v for (v,) in versions) == [1, 2, 3]


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
