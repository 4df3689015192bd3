"""The async SQLite store: its calls run on the store's own thread, in order,
except short ones, which run on the event loop when they need not wait."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentsession import AsyncSessionManager
from agentsession.stores.sqlite._async.store import AsyncSQLiteStore
from agentsession.testing import assert_one_chain

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncSQLiteStore]:
    store = AsyncSQLiteStore(tmp_path / "async.db")
    yield store
    await store.close()


async def test_calls_leave_the_event_loop_thread(store: AsyncSQLiteStore) -> None:
    here = threading.get_ident()
    first = await store._runner.run(threading.get_ident)
    second = await store._runner.run(threading.get_ident)
    assert first == second != here


class Ticker:
    """Counts turns of the event loop (one every 5 ms) while it runs."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.005)

    def stop(self) -> int:
        self._task.cancel()
        return self.ticks


async def test_the_loop_keeps_running_during_a_slow_call(store: AsyncSQLiteStore) -> None:
    ticker = Ticker()
    await store._runner.run(lambda: time.sleep(0.3))
    assert ticker.stop() >= 10


async def test_a_call_cancelled_while_queued_never_runs(store: AsyncSQLiteStore) -> None:
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant")
    busy = asyncio.create_task(store._runner.run(lambda: time.sleep(0.3)))
    await asyncio.sleep(0.05)  # the worker is busy now
    queued = asyncio.create_task(session.append({"role": "user", "content": "never"}))
    await asyncio.sleep(0.05)
    queued.cancel()
    await busy
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert await session.messages() == []
    assert (await session.refresh()).revision == 0


async def test_errors_reach_the_caller_and_the_worker_survives(store: AsyncSQLiteStore) -> None:
    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await store._runner.run(fail)
    assert await store._runner.run(lambda: 42) == 42


async def test_many_tasks_append_to_one_chain(store: AsyncSQLiteStore) -> None:
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant")

    async def one(n: int) -> None:
        mine = await manager.get(session.id)
        for i in range(20):
            await mine.append({"role": "user", "content": f"{n}-{i}"})

    await asyncio.gather(*(one(n) for n in range(10)))
    assert_one_chain(await session.messages(), 200)


async def test_the_worker_thread_ends_with_the_store(tmp_path: Path) -> None:
    closed = AsyncSQLiteStore(tmp_path / "closed.db")
    await AsyncSessionManager(closed).create("assistant")
    worker = await closed._runner.run(threading.current_thread)
    assert worker.name == "agentsession-sqlite" and worker.is_alive()
    await closed.close()
    worker.join(5)
    assert not worker.is_alive()

    forgotten = AsyncSQLiteStore(tmp_path / "forgotten.db")
    await AsyncSessionManager(forgotten).create("assistant")
    worker = await forgotten._runner.run(threading.current_thread)
    del forgotten
    with warnings.catch_warnings():
        # Python 3.13+ warns about the connection nobody closed: that is the point.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
        worker.join(5)
    assert not worker.is_alive()


class Statements:
    """Every statement the store's connection runs, with the thread that ran it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    async def watch(self, store: AsyncSQLiteStore) -> None:
        def install(conn: sqlite3.Connection) -> None:
            conn.set_trace_callback(lambda sql: self.seen.append((threading.get_ident(), sql)))

        await store._runner.run(lambda: store._db.call(install))

    def threads(self, needle: str) -> set[int]:
        return {thread for thread, sql in self.seen if needle in sql}

    def count(self, statement: str) -> int:
        return sum(1 for _, sql in self.seen if sql == statement)


async def test_short_calls_run_on_the_loop_and_long_ones_on_the_worker(
    store: AsyncSQLiteStore,
) -> None:
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant")
    worker = await store._runner.run(threading.get_ident)
    trace = Statements()
    await trace.watch(store)
    loop = threading.get_ident()

    await session.append({"role": "user", "content": "hi"})
    await session.messages(limit=10)
    await session.refresh()
    assert trace.threads("INSERT INTO agentsession_entries") == {loop}
    assert trace.threads("SELECT") == {loop}

    trace.seen.clear()
    await session.messages()  # the whole path: unbounded, so the worker's
    await session.append({"role": "user", "content": "x" * 100_000})  # big data too
    assert {thread for thread, _ in trace.seen} == {worker}


async def test_at_synchronous_full_writes_never_wait_for_the_disk_on_the_loop(
    tmp_path: Path,
) -> None:
    store = AsyncSQLiteStore(tmp_path / "full.db", synchronous="FULL")
    session = await AsyncSessionManager(store).create("assistant")
    worker = await store._runner.run(threading.get_ident)
    trace = Statements()
    await trace.watch(store)
    await session.append({"role": "user", "content": "hi"})
    assert trace.threads("INSERT INTO agentsession_entries") == {worker}
    trace.seen.clear()
    await session.messages(limit=10)
    assert {thread for thread, _ in trace.seen} == {threading.get_ident()}
    await store.close()


async def test_a_short_write_under_another_writers_lock_waits_off_the_loop(
    store: AsyncSQLiteStore,
) -> None:
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant")
    await session.append({"role": "user", "content": "before"})
    worker = await store._runner.run(threading.get_ident)
    trace = Statements()
    await trace.watch(store)

    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, in effect
    ticker = Ticker()
    append = asyncio.create_task(session.append({"role": "user", "content": "after"}))
    await asyncio.sleep(0.3)
    assert not append.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(append, 5)
    assert ticker.stop() >= 20  # the loop never waited for the lock
    assert trace.threads("INSERT INTO agentsession_entries") == {worker}
    assert [m.data["content"] for m in await session.messages()] == ["before", "after"]


async def test_the_wal_is_checkpointed_off_the_loop(store: AsyncSQLiteStore) -> None:
    session = await AsyncSessionManager(store).create("assistant")
    worker = await store._runner.run(threading.get_ident)
    trace = Statements()
    await trace.watch(store)
    for i in range(1500):
        await session.append({"role": "user", "content": f"message {i} " * 20})
    await store._runner.run(lambda: None)  # the last chore is done
    checkpoints = trace.threads("wal_checkpoint")
    assert checkpoints == {worker}
    assert trace.threads("INSERT INTO agentsession_entries") == {threading.get_ident()}
    # Bounded like SQLite's own 1 000-page checkpoints would keep it.
    assert Path(f"{store.path}-wal").stat().st_size < 6 * 1024 * 1024
