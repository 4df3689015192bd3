"""The SQLite store itself: URLs, the default store, files, errors, migrations."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import stat
import time
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentsession import (
    UNCHECKED,
    AsyncSessionManager,
    IntegrityError,
    InvalidInput,
    SearchUnavailable,
    SessionManager,
    StoreClosed,
    StoreUnavailable,
    open_async_store,
    open_store,
)
from agentsession.store import Unchecked, chain_checksum, chain_steps
from agentsession.stores.sqlite import _db as _sqlite_db
from agentsession.stores.sqlite._async.store import AsyncSQLiteStore
from agentsession.stores.sqlite._schema import (
    CREATE_SCHEMA_TABLE,
    INDEX_EVERY,
    MIGRATIONS,
    RECORD_MIGRATION,
    SCHEMA_VERSION,
    from_us,
    list_sessions_sql,
    search_scope,
    to_us,
)
from agentsession.stores.sqlite._sync.store import SQLiteStore
from agentsession.testing import FakeClock


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_open_store_without_url_is_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    monkeypatch.setenv("AGENTSESSION_DIR", str(tmp_path / "home"))
    store = open_store()
    assert isinstance(store, SQLiteStore)
    assert isinstance(open_async_store(), AsyncSQLiteStore)
    assert store.path == str(tmp_path / "home" / "sessions.db")
    assert not (tmp_path / "home").exists()  # opening does no I/O
    with SessionManager() as manager:
        assert isinstance(manager.store, SQLiteStore)
        manager.create("assistant").append({"role": "user", "content": "hi"})
    assert (tmp_path / "home" / "sessions.db").is_file()
    assert mode(tmp_path / "home") == 0o700
    assert mode(tmp_path / "home" / "sessions.db") == 0o600


@pytest.mark.parametrize("name", ["h#1", "q?x=1", "a%20b", "sp ace"])
def test_default_store_dir_is_a_path_not_a_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    monkeypatch.setenv("AGENTSESSION_DIR", str(tmp_path / name))
    store = open_store()
    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / name / "sessions.db")


def test_relative_and_absolute_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/rel.db")
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert f"sqlite:///{tmp_path}".startswith("sqlite:////")
    assert isinstance(relative, SQLiteStore) and isinstance(absolute, SQLiteStore)
    assert relative.path == str(tmp_path / "data" / "rel.db")
    assert absolute.path == str(tmp_path / "abs.db")
    spaced = open_store("sqlite:///with%20space.db")
    assert isinstance(spaced, SQLiteStore)
    assert spaced.path == str(tmp_path / "with space.db")
    # the relative path was resolved when the store was made, not when used
    monkeypatch.chdir(tmp_path / "..")
    with SessionManager(relative) as manager:
        manager.create("assistant")
    assert (tmp_path / "data" / "rel.db").is_file()


def test_url_options(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/o.db?synchronous=full&busy_timeout=2.5")
    with SessionManager(store) as manager:
        manager.create("assistant")
        conn = store._db._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (2500,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    default = SQLiteStore(tmp_path / "d.db")
    with SessionManager(default) as manager:
        manager.create("assistant")
        assert default._db._conn is not None
        assert default._db._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    for bad in (
        "sqlite:///x.db?synchronous=sometimes",
        "sqlite:///x.db?busy_timeout=soon",
        "sqlite:///x.db?busy_timeout=0",
        "sqlite:///x.db?cache=shared",
        "sqlite://host/x.db",
    ):
        with pytest.raises(InvalidInput):
            open_store(bad)


def test_in_memory_url() -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with SessionManager(url) as manager:
            session = manager.create("assistant")
            session.append({"role": "user", "content": "kept in memory"})
            assert [m.data["content"] for m in session.messages()] == ["kept in memory"]


def test_file_modes(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    path = shared / "a" / "b" / "s.db"
    with SessionManager(SQLiteStore(path)) as manager:
        manager.create("assistant").append({"role": "user", "content": "x"})
        assert mode(shared) == 0o755  # an existing directory is left alone
        assert mode(shared / "a") == 0o700
        assert mode(shared / "a" / "b") == 0o700
        for name in ("s.db", "s.db-wal", "s.db-shm"):
            assert mode(shared / "a" / "b" / name) == 0o600, name
    assert {p.name for p in (shared / "a" / "b").iterdir()} <= {"s.db", "s.db-shm", "s.db-wal"}


def test_user_ids_are_values_not_names(tmp_path: Path) -> None:
    odd = ["../../etc/passwd", "'; DROP TABLE agentsession_sessions; --", "ü" * 256, "a b\tc"]
    with SessionManager(SQLiteStore(tmp_path / "u.db")) as manager:
        made = {user: manager.create("assistant", user_id=user).id for user in odd}
        for user, session_id in made.items():
            assert [r.id for r in manager.list(user_id=user)] == [session_id]
            assert manager.get(session_id, user_id=user).user_id == user
    assert {p.name for p in tmp_path.iterdir()} <= {"u.db", "u.db-shm", "u.db-wal"}


def test_unreachable_files_are_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    for path in (blocker / "s.db", tmp_path, garbage):
        with SessionManager(SQLiteStore(path)) as manager:
            with pytest.raises(StoreUnavailable) as info:
                manager.create("assistant")
            assert isinstance(info.value.__cause__, sqlite3.Error | OSError)


def test_async_unreachable_file_is_store_unavailable(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncSessionManager(AsyncSQLiteStore(tmp_path)) as manager:
            with pytest.raises(StoreUnavailable):
                await manager.create("assistant")

    asyncio.run(main())


def test_closed_before_first_use(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    store.close()
    store.close()
    with pytest.raises(StoreClosed):
        SessionManager(store).create("assistant")
    assert not (tmp_path / "c.db").exists()

    async def main() -> None:
        astore = AsyncSQLiteStore(tmp_path / "c.db")
        await astore.close()
        await astore.close()
        with pytest.raises(StoreClosed):
            await AsyncSessionManager(astore).create("assistant")

    asyncio.run(main())


def test_async_store_outlives_its_event_loops(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "loops.db")
    manager = AsyncSessionManager(store)

    async def first() -> str:
        session = await manager.create("assistant")
        await session.append({"role": "user", "content": "one"})
        return session.id

    async def second(session_id: str) -> list[str]:
        session = await manager.get(session_id)
        await session.append({"role": "user", "content": "two"})
        return [str(m.data["content"]) for m in await session.messages()]

    session_id = asyncio.run(first())
    assert asyncio.run(second(session_id)) == ["one", "two"]
    asyncio.run(manager.close())


def schema_rows(path: Path) -> list[tuple[int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version FROM agentsession_schema ORDER BY version").fetchall()
    finally:
        conn.close()


def test_schema_version_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    for _ in range(3):
        with SessionManager(SQLiteStore(path)) as manager:
            manager.create("assistant")
    assert SCHEMA_VERSION == len(MIGRATIONS) == 4
    assert schema_rows(path) == [(1,), (2,), (3,), (4,)]


def test_forward_migration_applies_once_and_keeps_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "m.db"
    with SessionManager(SQLiteStore(path)) as manager:
        session = manager.create("assistant")
        session.append({"role": "user", "content": "before the upgrade"})
    upgraded = (*MIGRATIONS, ("CREATE TABLE agentsession_extra (x INTEGER)",))
    monkeypatch.setattr(_sqlite_db, "MIGRATIONS", upgraded)
    monkeypatch.setattr(_sqlite_db, "SCHEMA_VERSION", len(upgraded))
    for _ in range(2):
        with SessionManager(SQLiteStore(path)) as manager:
            found = manager.get(session.id)
            assert [m.data["content"] for m in found.messages()] == ["before the upgrade"]
    assert schema_rows(path) == [(n,) for n in range(1, len(upgraded) + 1)]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM agentsession_extra").fetchone() == (0,)
    conn.close()


def test_a_version_1_file_migrates_to_the_newest_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    made: list[tuple[str, str, str | None]] = []  # oldest first
    with SessionManager(SQLiteStore(tmp_path / "now.db", search=False)) as manager:
        for n in range(12):
            agent, user = ("bot", "helper")[n % 2], ("alice", "bob", None)[n % 3]
            session = manager.create(agent, user_id=user)
            session.append({"role": "user", "content": f"hello {n}"})
            made.append((session.id, agent, user))
        point = session.checkpoint("kept", {"n": 11})
        session.append({"role": "user", "content": "after"})
        before = manager.get(session.id).info
    as_version_1(tmp_path / "now.db", path)  # the rows, in the schema as released first
    assert schema_rows(path) == [(1,)]
    assert "agentsession_sessions_agent" not in index_names(path)
    assert "agentsession_sessions_agent" not in index_names(path)

    newest = made[::-1]
    with SessionManager(SQLiteStore(path)) as manager:
        assert [i.id for i in manager.list(limit=100)] == [i for i, _, _ in newest]
        sizes: dict[tuple[str | None, str | Unchecked | None], int] = {
            ("bot", UNCHECKED): 6,
            ("bot", "alice"): 2,
            ("bot", None): 2,
            (None, "bob"): 4,
        }
        for (by_agent, by_user), size in sizes.items():
            expected = [
                i for i, a, u in newest if by_agent in (None, a) and by_user in (UNCHECKED, u)
            ]
            assert len(expected) == size
            assert [i.id for i in manager.list(by_agent, user_id=by_user, limit=100)] == expected
        found = manager.get(session.id)
        assert found.info == before
        assert [m.data["content"] for m in found.messages()] == ["hello 11", "after"]
        found.restore(point.id)
        assert [m.data["content"] for m in found.messages()] == ["hello 11"]
        # Opened with search on, the store indexed the messages written before.
        hits = manager.search("hello", user_id="alice", limit=100)
        assert sorted(h.snippet for h in hits) == sorted(
            f"hello {n}" for n, (_, _, user) in enumerate(made) if user == "alice"
        )
        assert [h.snippet for h in manager.search("after", user_id=None)] == ["after"]
        # Migration 3 gave the entries already there their path checksums.
        assert [e.checksum for e in found.entries()] == chain_steps(
            [e.digest for e in found.entries()], None
        )
    assert schema_rows(path) == [(1,), (2,), (3,), (4,)]
    assert {"agentsession_sessions_agent", "agentsession_sessions_user_agent"} <= index_names(path)


def as_version_1(source: Path, target: Path) -> None:
    """``source``'s rows in a new file of schema version 1 (``MIGRATIONS[0]``)."""
    conn = sqlite3.connect(target)
    try:
        for statement in MIGRATIONS[0]:
            assert isinstance(statement, str)
            conn.execute(statement)
        conn.execute(CREATE_SCHEMA_TABLE)
        conn.execute(RECORD_MIGRATION, (1, 0))
        conn.execute("ATTACH DATABASE ? AS now", (str(source),))
        columns = "session_pk, id, parent_id, line, depth, message_index, kind, created_at"
        conn.execute("INSERT INTO agentsession_sessions SELECT * FROM now.agentsession_sessions")
        conn.execute(
            f"INSERT INTO agentsession_entries ({columns}, digest, data)"
            f" SELECT {columns}, digest, data FROM now.agentsession_entries"
        )
        conn.execute(
            "INSERT INTO agentsession_checkpoints SELECT * FROM now.agentsession_checkpoints"
        )
        conn.commit()
    finally:
        conn.close()


def test_an_append_reads_the_parents_checksum_with_the_head(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    with SessionManager(store) as manager:
        session = manager.create("bot")
        session.append({"role": "user", "content": "first"})
        statements: list[str] = []
        conn = store._db._conn
        assert conn is not None
        conn.set_trace_callback(statements.append)
        try:
            added = session.extend([{"role": "user", "content": f"{n}"} for n in range(3)])
        finally:
            conn.set_trace_callback(None)
        reads = [q for q in statements if q.lstrip().upper().startswith(("SELECT", "WITH"))]
        assert len(reads) == 1, reads  # the row, with the head's line, depth and checksum
        assert [e.checksum for e in added] == [
            chain_checksum(e.digest for e in session.entries()[: n + 2]) for n in range(3)
        ]


def test_a_head_stored_without_its_checksum_gets_it_from_its_path(tmp_path: Path) -> None:
    """Rows a process of an earlier release writes (it had the file open when
    it was migrated) carry no checksum: a checkpoint of such a head reads the
    path, and the next append computes the head's from it."""
    path = tmp_path / "old-writer.db"
    with SessionManager(SQLiteStore(path)) as manager:
        session = manager.create("bot")
        session.extend([{"role": "user", "content": f"{n}"} for n in range(3)])
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE agentsession_entries SET checksum = NULL")
        assert [e.checksum for e in session.entries()] == [None] * 3
        point = session.checkpoint()
        assert point.checksum == chain_checksum(e.digest for e in session.entries())
        added = session.append({"role": "user", "content": "3"})
        assert added.checksum == chain_checksum(e.digest for e in session.entries())
        assert session.checkpoint().checksum == added.checksum
        session.restore(point.id)


def test_an_import_computes_the_checksums_it_brings_afresh(tmp_path: Path) -> None:
    with SessionManager(SQLiteStore(tmp_path / "i.db")) as manager:
        session = manager.create("bot")
        session.extend([{"role": "user", "content": f"{n}"} for n in range(3)])
        export = manager.export_session(session.id)
        right = [e.checksum for e in export.entries]
        manager.delete(session.id)
        forged = [replace(e, checksum="A" * 43) for e in export.entries]
        manager.store.import_session(replace(export, entries=tuple(forged)))
        assert [e.checksum for e in manager.get(session.id).entries()] == right


def index_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    finally:
        conn.close()
    return {name for (name,) in rows}


@pytest.mark.parametrize(
    ("agent", "user_id", "index"),
    [
        (None, UNCHECKED, "agentsession_sessions_updated"),
        ("bot", UNCHECKED, "agentsession_sessions_agent"),
        (None, "alice", "agentsession_sessions_user"),
        (None, None, "agentsession_sessions_user"),
        ("bot", "alice", "agentsession_sessions_user_agent"),
        ("bot", None, "agentsession_sessions_user_agent"),
    ],
)
def test_listing_reads_an_index_in_order(
    tmp_path: Path, agent: str | None, user_id: str | Unchecked | None, index: str
) -> None:
    with SessionManager(SQLiteStore(tmp_path / "plan.db")) as manager:
        for n in range(50):  # some rows, so the planner has something to weigh
            manager.create(("bot", "helper")[n % 2], user_id=("alice", "bob", None)[n % 3])
    query, params = list_sessions_sql(agent, user_id, 20, 0, 0)
    conn = sqlite3.connect(tmp_path / "plan.db")
    try:
        conn.execute("ANALYZE")
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}", params)]
    finally:
        conn.close()
    # One step: a range of the index (or the whole updated_at index, for no
    # filter) read in ORDER BY order -- no table scan, no sort.
    filtered = agent is not None or user_id is not UNCHECKED
    verb = "SEARCH" if filtered else "SCAN"
    assert len(plan) == 1, plan
    assert plan[0].startswith(f"{verb} agentsession_sessions USING INDEX {index}"), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with SessionManager(SQLiteStore(path)) as manager:
        manager.create("assistant")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO agentsession_schema VALUES (99, 0)")
    conn.close()
    with (
        SessionManager(SQLiteStore(path)) as manager,
        pytest.raises(StoreUnavailable, match="upgrade agentsession"),
    ):
        manager.list()


def test_repr_names_the_file_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    with SessionManager(store) as manager:
        session = manager.create("assistant")
        assert session.id not in repr(store)
    assert "r.db" in repr(store) and "NORMAL" in repr(store)


def test_stored_text_that_is_not_json_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    with SessionManager(SQLiteStore(path)) as manager:
        session = manager.create("assistant")
        session.extend([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        point = session.checkpoint()
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "UPDATE agentsession_entries SET data = ? WHERE id = ?",
                ('{"a": 1} tail', point.entry_id),
            )
        conn.close()
        with pytest.raises(IntegrityError):
            session.restore(point.id)
        with pytest.raises(IntegrityError):
            session.messages()


def test_timestamps_round_trip_exactly() -> None:
    rng = random.Random(7)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    samples = [rng.randrange(0, 2**31 * 10**6) for _ in range(100_000)]
    samples += [2**31 * 10**6 + d for d in range(-1000, 1000)]
    samples += [0, 1, -1, -(10**15), 253_402_300_799_999_999]
    for value in samples:
        moment = from_us(value)
        assert moment == epoch + timedelta(microseconds=value)
        assert moment is not None and moment.utcoffset() == timedelta(0)
        assert to_us(moment) == value


def _index_matches_the_entries(path: Path, *, queued: bool = True) -> None:
    """Every message has its one search row, in its session's current scope,
    or waits in the queue for one (never both); no row outlives its message.
    ``queued=False``: the queue is empty (a search has just indexed it)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT f.session_pk, f.entry_id, f.scope FROM agentsession_search f"
        ).fetchall()
        waiting = conn.execute("SELECT session_pk, entry_id FROM agentsession_unindexed").fetchall()
        messages = conn.execute(
            "SELECT e.session_pk, e.id, s.agent, s.user_id FROM agentsession_entries e"
            " JOIN agentsession_sessions s ON s.pk = e.session_pk WHERE e.kind = 'message'"
        ).fetchall()
    finally:
        conn.close()
    assert queued or waiting == []
    indexed = sorted((pk, eid) for pk, eid, _ in rows)
    assert sorted(indexed + waiting) == sorted((pk, eid) for pk, eid, *_ in messages)
    scopes = {(pk, eid): scope for pk, eid, scope in rows}
    for pk, eid, agent, user_id in messages:
        if (pk, eid) in scopes:
            assert scopes[pk, eid] == search_scope(pk, agent, user_id)


def test_the_search_index_follows_every_write(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    clock = FakeClock()
    with SessionManager(SQLiteStore(path), clock=clock) as manager:
        a = manager.create("bot")
        a.extend([{"role": "user", "content": f"note {n}"} for n in range(4)])
        a.update_state({"seen": True})
        a.compact("summary of notes", upto=a.messages()[1].id)
        b = manager.create("bot", user_id="bob")
        b.append({"role": "user", "content": "bob's note"})
        brief = manager.create("bot", user_id="bob", ttl=timedelta(minutes=1))
        brief.append({"role": "user", "content": "a brief note"})
        _index_matches_the_entries(path)
        assert len(manager.search("note", user_id="bob")) == 2
        _index_matches_the_entries(path, queued=False)

        # One message of a's waits in the queue, the others are indexed: the
        # owner change reaches both.
        a.append({"role": "user", "content": "one more note"})
        claimed = manager.rotate_id(a.id, user_id="alice")
        _index_matches_the_entries(path)
        assert {h.session_id for h in manager.search("note", user_id="alice")} == {claimed.id}
        _index_matches_the_entries(path, queued=False)

        export = manager.export_session(b.id)
        export.entries = export.entries[:0]
        export.session.head, export.session.message_count = None, 0
        manager.import_session(export, expected_revision=b.revision)
        _index_matches_the_entries(path)
        assert manager.search("bob", user_id="bob") == []

        clock.advance(timedelta(minutes=2))
        assert manager.prune() == 1
        manager.delete(claimed.id)
        _index_matches_the_entries(path)
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT count(*) FROM agentsession_search").fetchone() == (0,)
        conn.close()


def _queue_length(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM agentsession_unindexed").fetchone()[0]
        return count


def test_a_store_indexes_its_queue_once_it_holds_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    with SessionManager(SQLiteStore(path)) as manager:
        s = manager.create("bot")
        for n in range(INDEX_EVERY - 1):
            s.append({"role": "user", "content": f"otter {n}"})
        assert _queue_length(path) == INDEX_EVERY - 1
        s.append({"role": "user", "content": "the last otter"})
        assert _queue_length(path) == 0
        _index_matches_the_entries(path, queued=False)


def test_indexing_reads_each_messages_text_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Both indexing statements filter out messages without text; written as
    # one SELECT, SQLite would decode each message for the filter and again
    # for the row.
    decoded: list[str] = []
    real = _sqlite_db._stored_text

    def counted(data: str) -> str:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr(_sqlite_db, "_stored_text", counted)
    path = tmp_path / "once.db"
    with SessionManager(SQLiteStore(path, search=False)) as manager:
        s = manager.create("bot")
        s.extend([{"role": "user", "content": f"otter {n}"} for n in range(5)])
        s.append({"role": "tool", "tool_call_id": "t1"})  # no text: not indexed
    with SessionManager(SQLiteStore(path)) as manager:
        s = manager.get(s.id)  # the first use opens the file and builds the index
        assert len(decoded) == 6
        s.extend([{"role": "user", "content": f"beaver {n}"} for n in range(7)])
        assert len(manager.search("beaver", user_id=None, limit=100)) == 7  # the queue
        assert len(decoded) == 13
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM agentsession_search").fetchone() == (12,)


@pytest.mark.asyncio
async def test_an_async_store_indexes_its_queue_on_its_worker(tmp_path: Path) -> None:
    path = tmp_path / "batch.db"
    store = AsyncSQLiteStore(path)
    manager = AsyncSessionManager(store)
    try:
        s = await manager.create("bot")
        for n in range(INDEX_EVERY):
            last = " last" if n == INDEX_EVERY - 1 else ""
            await s.append({"role": "user", "content": f"otter {n}{last}"})
        # A job queued on the worker now runs after the chore queued there.
        await store._runner.run(lambda: None)
        assert _queue_length(path) == 0
        _index_matches_the_entries(path, queued=False)
        hits = await manager.search("last", user_id=None)
        assert [h.snippet for h in hits] == [f"otter {INDEX_EVERY - 1} last"]
    finally:
        await manager.store.close()


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_search_off_drops_the_index_and_search_on_rebuilds_it(tmp_path: Path) -> None:
    path = tmp_path / "switch.db"
    with SessionManager(SQLiteStore(path)) as manager:
        s = manager.create("bot", user_id="alice")
        s.append({"role": "user", "content": "an otter before"})
    with SessionManager(f"sqlite:///{path}?search=off") as manager:
        with pytest.raises(SearchUnavailable):
            manager.search("otter", user_id="alice")
        manager.get(s.id).append({"role": "user", "content": "an otter while off"})
    assert "agentsession_search" not in _tables(path)
    with SessionManager(SQLiteStore(path)) as manager:
        hits = manager.search("otter", user_id="alice")
        assert sorted(h.snippet for h in hits) == ["an otter before", "an otter while off"]
    _index_matches_the_entries(path)
    with pytest.raises(InvalidInput, match="search must be true or false"):
        open_store(f"sqlite:///{path}?search=maybe")


def test_a_sqlite_without_fts5_stores_everything_and_refuses_search(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What SQLite says when a build lacks FTS5: "no such module: fts5".
    monkeypatch.setattr(
        _sqlite_db, "CREATE_SEARCH", ("CREATE VIRTUAL TABLE agentsession_search USING fts5x(b)",)
    )
    path = tmp_path / "plain.db"
    with SessionManager(SQLiteStore(path)) as manager:
        s = manager.create("bot", user_id="alice")
        s.append({"role": "user", "content": "kept all the same"})
        with pytest.raises(SearchUnavailable, match="FTS5"):
            manager.search("kept", user_id="alice")
        manager.delete(s.id)
    assert "agentsession_search" not in _tables(path)


@pytest.mark.parametrize(
    ("every", "rows", "frames", "expected"),
    [
        (250, 250, 1000, 250),  # on target
        (250, 250, 100, 1375),  # groups: more rows a frame; half-way to 2 500
        (250, 400, 1000, 325),  # the chore ran late: by the rows it found
        (2500, 2500, 5000, 1500),
        (250, 250, 1, 20_000),  # bounded above
        (60, 60, 100_000, 50),  # and below (a reader kept the WAL from restarting)
        (250, 250, 0, 250),  # nothing in the WAL, or not in WAL mode (-1): as it was
        (250, 250, -1, 250),
        (250, 0, 500, 250),  # no row changed (another process wrote it all)
    ],
)
def test_the_checkpoint_interval_aims_at_a_thousand_frames(
    every: int, rows: int, frames: int, expected: int
) -> None:
    assert _sqlite_db._next_interval(every, rows, frames) == expected


def test_small_commits_after_bulk_writes_keep_the_wal_short(tmp_path: Path) -> None:
    # Bulk writes change many rows a WAL page, so the interval in rows they
    # teach would let the small appends after them grow the WAL for
    # thousands of commits: a checkpoint also follows every hundred
    # commits (docs/stores/sqlite.md). Measured by the WAL file's size,
    # which only shrinks when a checkpoint empties it: largest 18 MB
    # without the bound, 7 MB with it.
    path = tmp_path / "bulk.db"
    wal = tmp_path / "bulk.db-wal"
    with SessionManager(SQLiteStore(path)) as manager:
        bulk = manager.create("assistant")
        for n in range(10):
            bulk.extend([{"role": "user", "content": f"bulk {n} {i} " * 10} for i in range(500)])
        lone = manager.create("assistant")
        largest = 0
        for n in range(600):
            lone.append({"role": "user", "content": f"lone {n} " * 20})
            largest = max(largest, wal.stat().st_size)
        assert largest < 10 * 1024 * 1024
        assert lone.message_count == 600
        assert bulk.refresh().message_count == 5000


def test_a_wal_a_reader_held_is_emptied_once_the_reader_is_done(tmp_path: Path) -> None:
    # A reader's snapshot keeps every frame after it in the WAL, and the WAL
    # from restarting. Once the WAL is long the store tries to empty it at
    # each checkpoint, never waiting for the reader (docs/design.md,
    # "Store protocol"); once the reader is done, the next checkpoint does.
    path = tmp_path / "held.db"
    wal = tmp_path / "held.db-wal"
    with SessionManager(SQLiteStore(path, busy_timeout=30)) as manager:
        session = manager.create("assistant")
        session.append({"role": "user", "content": "first"})
        started = time.monotonic()
        with closing(sqlite3.connect(path, isolation_level=None)) as reader:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM agentsession_entries").fetchone() == (1,)
            for n in range(800):
                session.append({"role": "user", "content": f"message {n} " * 20})
            held = wal.stat().st_size
            assert held > 16 * 1024 * 1024  # kept for the reader
            assert reader.execute("SELECT count(*) FROM agentsession_entries").fetchone() == (1,)
            reader.execute("COMMIT")
        for n in range(300):
            session.append({"role": "assistant", "content": f"reply {n} " * 20})
        assert wal.stat().st_size < 8 * 1024 * 1024
        assert time.monotonic() - started < 30  # no attempt waited out the busy timeout
        assert session.message_count == 1101
        assert [m.data["content"] for m in session.messages(limit=2)] == [
            f"reply {n} " * 20 for n in (298, 299)
        ]
