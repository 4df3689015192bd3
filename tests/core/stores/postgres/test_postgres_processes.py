"""PostgreSQL across processes: migrations (idempotent, safe when raced) and
separate interpreters appending to one session."""

from __future__ import annotations

import multiprocessing
from typing import Any

import psycopg
import pytest

from agentsession import SessionManager, StoreUnavailable
from agentsession.store import chain_steps
from agentsession.stores.postgres._migrations import MIGRATIONS
from agentsession.stores.postgres._sync.store import PostgresStore
from agentsession.testing import assert_one_chain, process_appends

from . import test_postgres as shared

dsn, pg_schema, pg_url = shared.dsn, shared.pg_schema, shared.pg_url


def _tables(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
            (schema,),
        ).fetchall()


def _versions(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f'SELECT version, name FROM "{schema}".agentsession_migration ORDER BY 1'
        ).fetchall()


def test_migrations_run_once(dsn: str, pg_schema: str, pg_url: str) -> None:
    store = PostgresStore.from_url(pg_url, max_size=1)
    try:
        assert store.migrate() == len(MIGRATIONS)
        schema_objects = _tables(dsn, pg_schema)
        assert ("agentsession_entry", "r") in schema_objects
        assert store.migrate() == 0
        again = PostgresStore.from_url(pg_url, max_size=1)
        assert again.migrate() == 0
        again.close()
        assert _tables(dsn, pg_schema) == schema_objects
        assert _versions(dsn, pg_schema) == [(v, name) for v, name, _ in MIGRATIONS]
    finally:
        store.close()


def test_first_use_migrates_and_migrate_false_leaves_the_schema_alone(
    dsn: str, pg_schema: str, pg_url: str
) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        hands_off = PostgresStore(pool, schema=pg_schema, migrate=False)
        with pytest.raises(StoreUnavailable) as info:
            SessionManager(hands_off).create("assistant")
        assert isinstance(info.value.__cause__, psycopg.Error)
        assert _tables(dsn, pg_schema) == []
    with SessionManager(pg_url) as manager:
        manager.create("assistant")
    assert _versions(dsn, pg_schema) == [(v, name) for v, name, _ in MIGRATIONS]


def _migrate_in_child(url: str, start: Any, results: Any) -> None:
    store = PostgresStore.from_url(url, max_size=1)
    try:
        start.wait()
        results.put(store.migrate())
    finally:
        store.close()


@pytest.mark.slow
def test_processes_racing_to_migrate_a_fresh_schema(dsn: str, pg_schema: str, pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(target=_migrate_in_child, args=(pg_url, start, results)) for _ in range(4)
    ]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    ran = sorted(results.get(timeout=5) for _ in children)
    # Exactly one process applied the migrations; the others found them done.
    assert ran == [0, 0, 0, len(MIGRATIONS)]
    assert _versions(dsn, pg_schema) == [(v, name) for v, name, _ in MIGRATIONS]


@pytest.mark.slow
def test_processes_appending_to_one_session_form_one_chain(pg_url: str) -> None:
    session_id = process_appends(pg_url, processes=4, appends=250)
    with SessionManager(pg_url) as manager:
        session = manager.get(session_id)
        path = session.messages()
        assert_one_chain(path, 1000)
        assert session.message_count == 1000
        assert [m.message_index for m in path] == list(range(1, 1001))
        assert len({m.data["content"] for m in path}) == 1000
        # Each chained its path checksum on the head it locked, not on the
        # one its statement's snapshot saw.
        assert [m.checksum for m in path] == chain_steps([m.digest for m in path], None)
