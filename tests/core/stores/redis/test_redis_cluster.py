"""The Redis store on a 3-master Redis Cluster started by
``scripts/redis-cluster.sh`` (or ``$AGENTSESSION_TEST_REDIS_CLUSTER_URL``):
the conformance suite, sync and async, processes, and round trips per node."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import RedisCluster

from agentsession import AsyncSessionManager, SessionManager
from agentsession.sealed import SealedStore
from agentsession.stores.redis._async.store import AsyncRedisStore
from agentsession.stores.redis._records import Keys
from agentsession.stores.redis._sync.store import RedisStore
from agentsession.testing import (
    AsyncStoreConformance,
    StoreConformance,
    assert_one_chain,
    process_appends,
)
from tests.core.test_sealed_conformance import options

from .test_redis_support import (
    AsyncRedisSuite,
    Cluster,
    RedisSuite,
    cluster_client,
    purge,
    unique_prefix,
    with_prefix,
)


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    started = Cluster()
    yield started.url
    started.stop()


@pytest.fixture
def cluster(server: str) -> str:
    return server


class TestRedisClusterStore(RedisSuite, StoreConformance):
    pass


class TestAsyncRedisClusterStore(AsyncRedisSuite, AsyncStoreConformance):
    pass


class TestSealedRedisClusterStore(StoreConformance):
    """The cluster store wrapped in a sealed store (compressed and encrypted)."""

    url = ""

    @pytest.fixture
    def store(self, server: str) -> Iterator[SealedStore]:
        self.url, prefix = server, unique_prefix()
        store = SealedStore(RedisStore.from_url(with_prefix(server, prefix)), **options("both"))
        yield store
        store.close()
        purge(server, prefix)

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        RedisSuite.tamper_entry(self, store.inner, session_id, entry_id, data)  # type: ignore[arg-type]


def test_a_session_lives_in_one_slot_and_the_indexes_in_another(cluster: str, prefix: str) -> None:
    store = RedisStore.from_url(with_prefix(cluster, prefix))
    with SessionManager(store) as manager:
        session = manager.create("assistant", user_id="alice")
        session.append({"role": "user", "content": "hi"})
        session.checkpoint()
        client: Any = cluster_client(cluster)
        keys = Keys(prefix)
        assert {client.keyslot(k) for k in keys.session(session.id)} == {
            client.keyslot(keys.session(session.id)[0])
        }
        assert len({client.keyslot(k) for k in keys.index(f"assistant\t{'0' * 32}")}) == 1
        client.close()


@pytest.mark.slow
def test_processes_append_to_one_chain(cluster: str, prefix: str) -> None:
    url = with_prefix(cluster, prefix)
    session_id = process_appends(url, processes=4, appends=250)
    with SessionManager(url) as manager:
        path = manager.get(session_id).messages()
    assert_one_chain(path, 1000)


class CountingConnection(redis.Connection):
    """A real connection that records each round trip, by node port."""

    sends: ClassVar[list[int]] = []

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends.append(self.port)
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def test_round_trips_on_cluster(cluster: str, prefix: str) -> None:
    """Per-session calls: at most one round trip to the session's node per
    store call, plus one to the index node when the call writes."""
    store = RedisStore.from_url(with_prefix(cluster, prefix), connection_class=CountingConnection)
    manager = SessionManager(store)
    client: Any = cluster_client(cluster)
    # Open the store's connection to every node and load the scripts there.
    ports: set[int] = set()
    for n in range(1000):
        port = client.get_node_from_key(Keys(prefix).session(f"warm-{n}")[0]).port
        if port not in ports:
            ports.add(port)
            warm = manager.create("warm", session_id=f"warm-{n}")
            warm.extend([{"n": 1}])
            manager.get(warm.id).restore(warm.checkpoint().id)
            warm.messages(limit=1)

    def trips(operation: Callable[[], Any], node_of: str | None = None) -> tuple[int, int]:
        before = len(CountingConnection.sends)
        result = operation()
        sends = CountingConnection.sends[before:]
        sid = node_of or result.id
        port = client.get_node_from_key(Keys(prefix).session(sid)[0]).port
        return sends.count(port), len(sends)

    sid = ""

    def create() -> Any:
        nonlocal sid
        made = manager.create("assistant", user_id="alice")
        sid = made.id
        return made

    slot, total = trips(create)
    assert slot <= 1 and total <= 2
    session = manager.get(sid)
    for name, operation, store_calls, writes in [
        ("append", lambda: session.append({"role": "user"}), 1, 1),
        ("extend(50)", lambda: session.extend([{"n": n} for n in range(50)]), 1, 1),
        ("messages(limit=100)", lambda: session.messages(limit=100), 1, 0),
        ("get", lambda: manager.get(sid), 1, 0),
        ("checkpoint", session.checkpoint, 2, 1),  # the head, the save
    ]:
        slot, total = trips(operation, sid)
        assert slot <= store_calls, f"{name}: {slot} round trips to the session's node"
        assert total <= store_calls + writes, f"{name}: {total} round trips in all"
    point = session.checkpoint()
    slot, total = trips(lambda: session.restore(point.id), sid)
    assert slot <= 2 and total <= 3
    # Listing: one round trip to the index node, one pipeline of the rows (one
    # round trip per node holding some); nothing more when no id drops out.
    for _ in range(5):
        manager.create("assistant", user_id="alice")
    before = len(CountingConnection.sends)
    assert len(manager.list("assistant", user_id="alice")) == 6
    assert len(CountingConnection.sends) - before <= 1 + len(ports)
    client.close()
    manager.close()


def test_store_on_users_cluster_client(cluster: str, prefix: str) -> None:
    """``RedisStore(RedisCluster(...))``: the user's own client (bytes replies),
    detected as a cluster (listing and rotation across slots), left open."""
    parts = urlsplit(cluster)
    client = RedisCluster(host=parts.hostname, port=parts.port or 6379)
    store = RedisStore(client, key_prefix=prefix)
    with SessionManager(store) as manager:
        session = manager.create("assistant", user_id="alice", metadata={"k": "v"})
        session.extend([{"n": n} for n in range(3)])
        session.restore(session.checkpoint().id)
        moved = manager.rotate_id(session.id)
        assert [m.data["n"] for m in moved.messages(limit=2)] == [1, 2]
        assert [r.id for r in manager.list("assistant", user_id="alice")] == [moved.id]
        assert manager.delete(moved.id)
        assert manager.list("assistant", user_id="alice") == []
    assert client.ping()  # close() left the user's client open
    client.close()


@pytest.mark.asyncio
async def test_async_store_on_users_cluster_client(cluster: str, prefix: str) -> None:
    parts = urlsplit(cluster)
    client = redis.asyncio.cluster.RedisCluster(host=parts.hostname, port=parts.port or 6379)
    store = AsyncRedisStore(client, key_prefix=prefix)
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant", user_id="alice")
    await session.extend([{"n": n} for n in range(3)])
    moved = await manager.rotate_id(session.id)
    assert [m.data["n"] for m in await moved.messages(limit=2)] == [1, 2]
    assert [r.id for r in await manager.list("assistant", user_id="alice")] == [moved.id]
    assert await manager.delete(moved.id)
    assert await manager.list() == []
    await store.close()
    assert await client.ping()
    await client.aclose()
