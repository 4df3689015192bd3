"""The async SQLite store: its calls run on the store's own thread, in order."""

from __future__ import annotations

import asyncio
import gc
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


async def test_the_loop_keeps_running_during_a_slow_call(store: AsyncSQLiteStore) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await store._runner.run(lambda: time.sleep(0.3))
    task.cancel()
    assert ticks >= 10


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
