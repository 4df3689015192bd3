"""The Redis store when its server dies: a private ``redis-server`` (AOF,
``appendfsync always``) is killed with SIGKILL in the middle of a run of
appends and started again on the same data directory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from agentsession import AsyncSessionManager, SessionManager, StoreUnavailable
from agentsession.stores.redis._async.store import AsyncRedisStore
from agentsession.stores.redis._sync.store import RedisStore
from agentsession.testing import FakeClock, assert_one_chain

from .test_redis_support import PrivateRedis


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def wait_until(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def msg(n: int) -> dict[str, str]:
    return {"role": "user", "content": f"message {n}"}


def _is_driver_error(exc: BaseException) -> bool:
    return isinstance(exc.__cause__, redis.exceptions.RedisError)


@pytest.mark.slow
def test_kill_in_the_middle_of_appends(private: PrivateRedis) -> None:
    store = RedisStore.from_url(private.url)
    manager = SessionManager(store)
    session = manager.create("assistant")
    returned: list[str] = []
    failures: list[StoreUnavailable] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                returned.append(session.append(msg(n)).id)
            except StoreUnavailable as exc:
                failures.append(exc)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(returned) >= 200)
        private.kill()
        wait_until(lambda: failures)
        with pytest.raises(StoreUnavailable) as outage:
            manager.get(session.id)
        assert _is_driver_error(outage.value)
        assert all(_is_driver_error(f) for f in failures)
        before_restart = len(returned)
        private.start()
        wait_until(lambda: len(returned) >= before_restart + 100)
    finally:
        stop.set()
        thread.join()

    # The same store object, never rebuilt.
    path = session.messages()
    ids = [e.id for e in path]
    assert_one_chain(path, len(ids))
    position = {entry_id: n for n, entry_id in enumerate(ids)}
    assert all(r in position for r in returned), "an append that returned was lost"
    assert [position[r] for r in returned] == sorted(position[r] for r in returned)
    # An append that raised may have been applied before the kill, never twice.
    assert len(returned) <= len(ids) <= len(returned) + len(failures)
    exported = manager.export_session(session.id)
    assert {e.id for e in exported.entries} == set(ids), "an entry is off the chain"
    assert exported.session.head == ids[-1]
    assert exported.session.message_count == len(ids)
    assert [b.leaf_id for b in session.branches()] == [ids[-1]]
    manager.close()


@pytest.mark.asyncio
async def test_async_store_recovers_after_a_restart(private: PrivateRedis) -> None:
    store = AsyncRedisStore.from_url(private.url)
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant")
    await session.extend([msg(n) for n in range(20)])
    private.kill()
    with pytest.raises(StoreUnavailable) as failed:
        await session.append(msg(20))
    assert _is_driver_error(failed.value)
    with pytest.raises(StoreUnavailable):
        await manager.get(session.id)
    private.start()
    await session.append(msg(21))
    contents = [m.data["content"] for m in await session.messages()]
    assert contents == [f"message {n}" for n in (*range(20), 21)]
    await manager.close()


def test_scripts_reloaded_after_script_flush(private: PrivateRedis) -> None:
    clock = FakeClock()
    manager = SessionManager(RedisStore.from_url(private.url), clock=clock)
    doomed = manager.create("assistant", ttl=timedelta(seconds=5))
    doomed.append(msg(1))
    kept = manager.create("assistant")
    client = redis.Redis(port=private.port)
    client.script_flush()  # what a restart without persistence of scripts looks like
    clock.advance(10)
    assert manager.prune() == 1  # scripts inside a pipeline: NOSCRIPT, load, retry
    client.script_flush()
    kept.append(msg(2))  # a single script call: redis-py's Script reloads it
    assert [r.id for r in manager.list()] == [kept.id]
    client.close()
    manager.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis+cluster://127.0.0.1:1"])
def test_an_unreachable_server_raises_store_unavailable(url: str) -> None:
    """Every first operation, however it starts (a sync cluster client connects
    as it is made, to read the slot table), raises the library's error with the
    driver's chained."""
    manager = SessionManager(RedisStore.from_url(url + "?socket_connect_timeout=0.5"))
    operations: list[Callable[[], object]] = [
        lambda: manager.create("assistant"),
        lambda: manager.list(),
        lambda: manager.delete("some-id"),
        lambda: manager.get("some-id"),
    ]
    for operation in operations:
        with pytest.raises(StoreUnavailable) as caught:
            operation()
        driver = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
        assert isinstance(caught.value.__cause__, driver)
    manager.close()
