"""PostgresStore / AsyncPostgresStore on the real server: the conformance suite
(sync and async) and what is particular to PostgreSQL.

Every test gets its own schema (``?schema=`` in the URL), dropped afterwards,
so runs never collide.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from agentsession import InvalidInput, SessionManager, open_async_store, open_store
from agentsession.store import canonical_json, entry_digest
from agentsession.stores.postgres._async.store import AsyncPostgresStore
from agentsession.stores.postgres._sync.store import PostgresStore
from agentsession.testing import AsyncStoreConformance, StoreConformance
from tests.services import postgres_dsn


def url_for(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


@pytest.fixture
def dsn() -> str:
    return postgres_dsn()


@pytest.fixture
def pg_schema(dsn: str) -> Iterator[str]:
    """A fresh schema name; the schema (if a test created it) is dropped afterwards."""
    name = "agentsession_test_" + secrets.token_hex(6)
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url(dsn: str, pg_schema: str) -> str:
    return url_for(dsn, pg_schema)


def tamper(dsn: str, schema: str | None, session_id: str, entry_id: str, data: Any) -> None:
    """Rewrite one entry's JSONB behind the library's back."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            f'UPDATE "{schema}".agentsession_entry AS e SET data = %s::jsonb '
            f'FROM "{schema}".agentsession_session AS s '
            "WHERE e.session_pk = s.pk AND s.id = %s AND e.id = %s",
            (json.dumps(data), session_id, entry_id),
        )
        assert cur.rowcount == 1


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[PostgresStore]:
        store = PostgresStore.from_url(pg_url)
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(postgres_dsn(), store.schema, session_id, entry_id, data)


class TestAsyncPostgresStore(AsyncStoreConformance):
    @pytest_asyncio.fixture
    async def store(self, pg_url: str) -> AsyncIterator[AsyncPostgresStore]:
        store = AsyncPostgresStore.from_url(pg_url)
        yield store
        await store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(postgres_dsn(), store.schema, session_id, entry_id, data)


# -- opening -------------------------------------------------------------------


def test_urls_open_the_postgres_stores(pg_url: str) -> None:
    sync_store = open_store(pg_url)
    async_store = open_async_store(pg_url.replace("postgresql://", "postgres://"))
    assert isinstance(sync_store, PostgresStore)
    assert isinstance(async_store, AsyncPostgresStore)
    assert sync_store.schema == async_store.schema
    sync_store.close()


def test_opening_is_lazy(dsn: str, pg_schema: str) -> None:
    # An unreachable server: building the store must not touch it.
    store = PostgresStore.from_url(
        f"postgresql://nobody@127.0.0.1:1/none?schema={pg_schema}&connect_timeout=1",
        timeout=1.0,
    )
    assert store.pool.closed
    store.close()
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg_schema,)
        ).fetchone()
    assert found is None


def test_libpq_parameters_reach_the_server_as_written(pg_url: str) -> None:
    # Spaces written %20 stay spaces (libpq keeps a "+" as a "+"), and the
    # options of the URL are kept beside the store's own (UTC).
    url = f"{pg_url}&application_name=agent%20session&options=-c%20statement_timeout%3D4321"
    with SessionManager(PostgresStore.from_url(url)) as manager:
        manager.create("bot")
        with manager.store.pool.connection() as conn:  # type: ignore[attr-defined]
            row = conn.execute(
                "SELECT current_setting('application_name'),"
                " current_setting('statement_timeout'), current_setting('TimeZone')"
            ).fetchone()
    assert row == ("agent session", "4321ms", "UTC")


@pytest.mark.parametrize("kind", [PostgresStore, AsyncPostgresStore])
def test_a_url_libpq_cannot_read_is_refused_when_the_store_is_made(
    kind: type[PostgresStore] | type[AsyncPostgresStore],
) -> None:
    from agentsession import InvalidInput

    # Not a psycopg ProgrammingError: the parameter is named, never a value.
    with pytest.raises(InvalidInput, match="'sslmod'") as refused:
        kind.from_url("postgresql://u@127.0.0.1:1/db?sslmod=require-secret&connect_timeout=1")
    assert "require-secret" not in str(refused.value)
    # A malformed URL is not echoed: it may hold the password.
    with pytest.raises(InvalidInput, match="malformed") as refused:
        kind.from_url("postgresql://u:pass%zzword@127.0.0.1:1/db")
    assert "pass" not in str(refused.value)


def test_bad_schema_name_is_refused(dsn: str) -> None:
    from agentsession import InvalidInput

    with pytest.raises(InvalidInput):
        PostgresStore.from_url(url_for(dsn, 'x"; DROP TABLE y; --'))


def test_store_from_an_existing_pool_leaves_it_open(dsn: str, pg_schema: str) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(dsn, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        store = PostgresStore(pool, schema=pg_schema)
        with SessionManager(store) as manager:
            session = manager.create("assistant")
            session.append({"role": "user", "content": "hi"})
            assert [m.data["content"] for m in session.messages()] == ["hi"]
        assert not pool.closed
        conn = pool.getconn()
        try:
            conn.autocommit = False  # a pool the store must switch to autocommit
        finally:
            pool.putconn(conn)
        again = PostgresStore(pool, schema=pg_schema)
        assert again.get_session(session.id, now=session.updated_at).message_count == 1


# -- numbers in JSONB ------------------------------------------------------------

AWKWARD = [
    {"f": 1.0, "g": -1.0, "z": 0.0, "nz": -0.0},
    {"big": 1e16, "bigger": 1.7976931348623157e308, "neg": -2.5e22, "mixed": [1e100, 1e15]},
    {"tiny": 5e-324, "small": 1.5e-7, "third": 1 / 3, "pi": 3.141592653589793},
    {"ints": [0, -1, 2**63, -(2**64), 10**40, 2**53 + 1]},
    {"text": "0.00 -0.0 e+ 1e+16", "nested": {"b": [{"x": -0.0}], "a": 1e22}},
    {"unicode": 'ü\u2028\U0001f600\n\t\\"', "": None, "t": True, "f": False},
]


@pytest.mark.parametrize("data", AWKWARD)
def test_jsonb_keeps_canonical_json(pg_url: str, data: dict[str, Any]) -> None:
    with SessionManager(pg_url) as manager:
        session = manager.create("assistant", metadata=data)
        entry = session.append_entry("numbers", data)
        (stored,) = session.entries()
        text = canonical_json(data)
        assert canonical_json(dict(stored.data)) == text
        assert entry_digest("numbers", canonical_json(dict(stored.data))) == entry.digest
        assert canonical_json(dict(session.refresh().metadata)) == text
        point = session.checkpoint(metadata=data)
        assert canonical_json(dict(session.checkpoints()[0].metadata)) == text
        session.restore(point.id)  # recomputes the digests from the JSONB


def test_jsonb_is_queryable_as_numbers(dsn: str, pg_url: str, pg_schema: str) -> None:
    with SessionManager(pg_url) as manager:
        session = manager.create("assistant")
        session.append_entry("numbers", {"big": 1e16, "nz": -0.0, "f": 2.5})
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f"SELECT (data->>'big')::numeric = 1e16, (data->>'nz')::numeric = 0, "
            f"(data->>'f')::numeric FROM \"{pg_schema}\".agentsession_entry"
        ).fetchone()
    assert row is not None and row[0] is True and row[1] is True and float(row[2]) == 2.5


def test_search_path_and_unprepared_pool(dsn: str, pg_schema: str) -> None:
    """No schema: the tables follow the connections' search_path. A pool with
    prepare_threshold=None (PgBouncer in transaction mode) prepares nothing."""
    from psycopg_pool import ConnectionPool

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
    kwargs = {"options": f"-c search_path={pg_schema}", "prepare_threshold": None}
    with ConnectionPool(dsn, min_size=1, max_size=2, kwargs=kwargs) as pool:
        with SessionManager(PostgresStore(pool)) as manager:
            session = manager.create("assistant")
            for n in range(8):
                session.append({"role": "user", "content": f"m{n}"})
            assert len(session.messages(limit=5)) == 5
        with pool.connection() as conn:
            prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    assert prepared == (0,)
    with psycopg.connect(dsn) as conn:
        found = conn.execute(f'SELECT count(*) FROM "{pg_schema}".agentsession_entry').fetchone()
    assert found == (8,)


def test_rotate_onto_a_taken_id(pg_url: str) -> None:
    from datetime import timedelta

    from agentsession import ConflictError
    from agentsession.testing import FakeClock

    clock = FakeClock()
    with SessionManager(pg_url, clock=clock) as manager:
        store = manager.store
        live = manager.create("assistant", session_id="live-id")
        manager.create("assistant", session_id="soon-gone", ttl=timedelta(seconds=5))
        moving = manager.create("assistant")
        moving.append({"role": "user", "content": "hello"})
        now = clock()
        with pytest.raises(ConflictError):
            store.rotate_id(moving.id, live.id, user_id=None, now=now, expires_at=None)
        clock.advance(6)
        info = store.rotate_id(moving.id, "soon-gone", user_id="bob", now=clock(), expires_at=None)
        assert (info.id, info.user_id, info.message_count) == ("soon-gone", "bob", 1)
        assert [m.data["content"] for m in manager.get("soon-gone").messages()] == ["hello"]


def test_export_import_of_empty_and_checkpointless_sessions(pg_url: str) -> None:
    from agentsession.testing import FakeClock

    with SessionManager(pg_url, clock=FakeClock()) as manager:
        empty = manager.create("assistant")
        chat = manager.create("assistant", metadata={"big": 1e16})
        chat.extend([{"role": "user", "content": "a"}, {"role": "tool", "content": None}])
        for session in (empty, chat):
            exported = manager.export_session(session.id)
            assert manager.delete(session.id)
            manager.import_session(exported)
            assert manager.export_session(session.id) == exported
        assert [m.data["content"] for m in manager.get(chat.id).messages(limit=1)] == [None]


def test_a_page_of_entries_decodes_as_its_rows_would() -> None:
    from agentsession.stores.postgres._rows import entries_from_slots, entry_from_slots, pg_json

    created = datetime(2026, 1, 1, tzinfo=UTC)

    def row(i: int, text: str) -> tuple[Any, ...]:
        # part, ord, flag; the eight entry slots; six session columns; checksum
        slots = (f"e{i}", f"e{i - 1}" if i else None, "message", created, text, i + 1, i + 1, "d")
        return (1, i, None, *slots, *[None] * 6, "c")

    # Floats JSONB would change (an exponent form, -0.0) travel in pg_json's
    # exact forms; the page must read them back as each row alone does.
    datas = [{"n": i, "s": "a,b]", "x": -0.0, "y": 1e16 * (i + 1)} for i in range(5)]
    page = [row(i, pg_json(d)) for i, d in enumerate(datas)]
    entries = entries_from_slots(page)
    assert entries == [entry_from_slots(r) for r in page]
    assert [e.data for e in entries] == datas
    assert math.copysign(1.0, entries[0].data["x"]) < 0
    assert entries_from_slots([]) == []
    # A page that does not decode as one (text that is no object) goes row
    # by row, and the damaged row is refused with a typed error.
    with pytest.raises(InvalidInput, match="not an object"):
        entries_from_slots([row(0, "{}"), row(1, "[1]")])
