"""Group commit: appends made together share one transaction and one commit,
and each caller still gets its own result or its own error."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from agentsession import (
    UNCHECKED,
    AsyncSession,
    AsyncSessionManager,
    ConflictError,
    SessionNotFound,
    StoreUnavailable,
)
from agentsession.store import prepare_entry
from agentsession.stores.sqlite import _ops as ops
from agentsession.stores.sqlite._async.store import AsyncSQLiteStore
from agentsession.stores.sqlite._db import Database, StoreConnection, transaction
from agentsession.testing import assert_one_chain

from .test_sqlite_async import Statements

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncSQLiteStore]:
    store = AsyncSQLiteStore(tmp_path / "groups.db")
    yield store
    await store.close()


async def _sessions(store: AsyncSQLiteStore, count: int) -> list[AsyncSession]:
    manager = AsyncSessionManager(store)
    return [await manager.create("assistant") for _ in range(count)]


async def _contents(session: AsyncSession) -> list[str]:
    return [m.data["content"] for m in await session.messages()]


async def test_appends_made_together_share_one_commit(store: AsyncSQLiteStore) -> None:
    sessions = await _sessions(store, 16)
    trace = Statements()
    await trace.watch(store)
    entries = await asyncio.gather(
        *(s.append({"role": "user", "content": f"to {n}"}) for n, s in enumerate(sessions))
    )
    assert trace.count("COMMIT") == 1
    assert trace.count("BEGIN IMMEDIATE") == 1
    assert trace.threads("INSERT INTO agentsession_entries") == {threading.get_ident()}
    for n, (session, entry) in enumerate(zip(sessions, entries, strict=True)):
        assert entry.data["content"] == f"to {n}"
        assert session.head == entry.id
        assert await _contents(session) == [f"to {n}"]


async def test_each_caller_gets_its_own_result_or_its_own_error(
    store: AsyncSQLiteStore,
) -> None:
    first, gone, raced, last = await _sessions(store, 4)
    await raced.append({"role": "user", "content": "kept"})
    stale = first.id  # any well-formed id that is not raced's head
    await AsyncSessionManager(store).delete(gone.id)
    trace = Statements()
    await trace.watch(store)
    outcomes = await asyncio.gather(
        first.append({"role": "user", "content": "one"}),
        gone.append({"role": "user", "content": "lost"}),
        raced.append({"role": "user", "content": "refused"}, expected_head=stale),
        last.append({"role": "user", "content": "four"}),
        return_exceptions=True,
    )
    assert trace.count("COMMIT") == 1
    assert isinstance(outcomes[1], SessionNotFound)
    assert isinstance(outcomes[2], ConflictError)
    assert await _contents(first) == ["one"]
    assert await _contents(last) == ["four"]
    assert await _contents(raced) == ["kept"]  # nothing of the refused call stays
    assert (await AsyncSessionManager(store).get(raced.id)).revision == raced.revision


async def test_appends_to_one_session_in_one_group_stay_one_chain(
    store: AsyncSQLiteStore,
) -> None:
    [session] = await _sessions(store, 1)
    trace = Statements()
    await trace.watch(store)
    await asyncio.gather(*(session.append({"role": "user", "content": f"m{n}"}) for n in range(20)))
    assert trace.count("COMMIT") == 1
    path = await session.messages()
    assert_one_chain(path, 20)
    assert sorted(e.data["content"] for e in path) == sorted(f"m{n}" for n in range(20))


async def test_at_synchronous_full_a_group_commits_once_on_the_worker(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "full.db", synchronous="FULL")
    try:
        sessions = await _sessions(store, 8)
        worker = await store._runner.run(threading.get_ident)
        trace = Statements()
        await trace.watch(store)
        await asyncio.gather(*(s.append({"role": "user", "content": "hi"}) for s in sessions))
        assert trace.count("COMMIT") == 1  # one fsync for the eight
        assert trace.threads("INSERT INTO agentsession_entries") == {worker}
        for session in sessions:
            assert await _contents(session) == ["hi"]
    finally:
        await store.close()


@pytest.mark.parametrize("leader", [True, False], ids=["the-first-call", "a-later-call"])
async def test_a_caller_cancelled_before_its_group_runs_is_left_out(
    store: AsyncSQLiteStore, leader: bool
) -> None:
    # The group's first call leads it (it runs the group after one turn of
    # the loop); either kind of caller may be cancelled before that.
    dropped, kept = await _sessions(store, 2)
    calls = [(dropped, "never"), (kept, "stored")]
    tasks = [
        asyncio.create_task(s.append({"role": "user", "content": text}))
        for s, text in (calls if leader else calls[::-1])
    ]
    cancelled, other = tasks if leader else tasks[::-1]
    await asyncio.sleep(0)  # both have joined the group; it has not run yet
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await other
    assert await _contents(dropped) == []
    assert await _contents(kept) == ["stored"]


async def test_a_group_formed_before_close_runs_before_it(tmp_path: Path) -> None:
    path = tmp_path / "closing.db"
    store = AsyncSQLiteStore(path)
    [session] = await _sessions(store, 1)
    append = asyncio.create_task(session.append({"role": "user", "content": "in time"}))
    await asyncio.sleep(0)
    await store.close()
    await append
    again = AsyncSQLiteStore(path)
    try:
        found = await AsyncSessionManager(again).get(session.id)
        assert await _contents(found) == ["in time"]
    finally:
        await again.close()


def _writes_then_fails(conn: StoreConnection, session_id: str) -> None:
    with transaction(conn, "BEGIN IMMEDIATE"):
        conn.execute(
            "UPDATE agentsession_sessions SET metadata = '{\"x\":1}' WHERE id = ?", (session_id,)
        )
        raise ConflictError("refused after a write")


async def test_a_call_that_fails_in_a_group_is_undone_alone(store: AsyncSQLiteStore) -> None:
    one, two = await _sessions(store, 2)
    db = store._db
    calls: list[Callable[[], object]] = [
        _store_append(db, one, "a"),
        functools.partial(db.call, _writes_then_fails, two.id),
        _store_append(db, two, "b"),
    ]
    outcomes = await store._runner.run(lambda: db.group(calls))
    assert isinstance(outcomes[1][1], ConflictError)
    assert [error is None for _, error in outcomes] == [True, False, True]
    found = await AsyncSessionManager(store).get(two.id)
    assert found.metadata == {}
    assert await _contents(found) == ["b"]
    assert await _contents(one) == ["a"]


def _store_append(db: Database, session: AsyncSession, content: str) -> Callable[[], object]:
    """The store call a session's append makes, for ``db.group``."""
    now = datetime.now(UTC)
    entry = prepare_entry("message", {"role": "user", "content": content}, now, None)
    return functools.partial(
        db.call, ops.append, session.id, [entry],
        now=now, expires_at=None, expected_head=UNCHECKED,
    )  # fmt: skip


def _ends_the_transaction(conn: StoreConnection) -> None:
    conn.execute("ROLLBACK")  # what SQLite does to a transaction on some errors
    raise sqlite3.OperationalError("disk I/O error")


async def test_a_group_whose_transaction_ends_runs_each_call_again_alone(
    store: AsyncSQLiteStore,
) -> None:
    one, two = await _sessions(store, 2)
    db = store._db
    calls: list[Callable[[], object]] = [
        _store_append(db, one, "a"),
        functools.partial(db.call, _ends_the_transaction),
        _store_append(db, two, "b"),
    ]
    outcomes = await store._runner.run(lambda: db.group(calls))
    assert [error is None for _, error in outcomes] == [True, False, True]
    assert isinstance(outcomes[1][1], StoreUnavailable)
    assert await _contents(one) == ["a"]  # once: the group's try left nothing
    assert await _contents(two) == ["b"]


async def test_checkpoints_follow_the_frames_the_wal_holds(store: AsyncSQLiteStore) -> None:
    # A group writes the pages its appends share once, so it changes more
    # rows per WAL frame than an append alone: a fixed count of rows between
    # checkpoints would checkpoint far more often than SQLite's own default.
    sessions = await _sessions(store, 16)
    trace = Statements()
    await trace.watch(store)
    rounds = 80
    for n in range(rounds):
        await asyncio.gather(
            *(s.append({"role": "user", "content": f"round {n} " * 10}) for s in sessions)
        )
    await store._runner.run(lambda: None)  # the last chore is done
    checkpoints = trace.count("PRAGMA wal_checkpoint(PASSIVE)")
    every_250_rows = rounds * len(sessions) * 3 // 250  # an append changes three
    assert 1 <= checkpoints <= every_250_rows // 2
    assert Path(f"{store.path}-wal").stat().st_size < 6 * 1024 * 1024
