"""Round trips per operation on a standalone Redis, counted by the test itself:
a connection class that counts what it sends (one send = one round trip,
a pipeline included), and ``INFO commandstats`` deltas on a private server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
import redis

from agentsession import SessionManager
from agentsession.stores.redis._records import Keys, owner_of
from agentsession.stores.redis._sync.link import _OWNER_CACHE as OWNER_CACHE
from agentsession.stores.redis._sync.store import RedisStore
from agentsession.testing import FakeClock

from .test_redis_support import PrivateRedis

T = TypeVar("T")
COUNTED: dict[str, int] = {}
COMMANDS: dict[str, dict[str, int]] = {}
IGNORED = {"info", "client|setinfo", "hello", "ping"}  # the stats reader's own


class CountingConnection(redis.Connection):
    """A real connection that records each round trip (every packed send)."""

    sends: ClassVar[list[int]] = []

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends.append(self.port)
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.kill()


def measure(server: PrivateRedis, name: str, budget: int, operation: Callable[[], T]) -> T:
    """Run ``operation``; fail if it costs more than ``budget`` round trips or
    script calls, or loads a script. (``commandstats`` also counts what the
    scripts run inside, so those commands are kept in ``COMMANDS``.)"""
    before, stats = len(CountingConnection.sends), server.command_stats()
    result = operation()
    trips = len(CountingConnection.sends) - before
    after = server.command_stats()
    commands = {k: v - stats.get(k, 0) for k, v in after.items() if k not in IGNORED}
    commands = {k: v for k, v in commands.items() if v}
    COUNTED[name], COMMANDS[name] = trips, commands
    assert trips <= budget, f"{name}: {trips} round trips, budget {budget}"
    assert commands.get("evalsha", 0) <= budget, f"{name} sent {commands}"
    assert not any(k.startswith("script") for k in commands), f"{name} sent {commands}"
    return result


def counted_store(server: PrivateRedis, prefix: str) -> RedisStore:
    url = f"{server.url}?key_prefix={prefix}"
    return RedisStore.from_url(url, connection_class=CountingConnection)


def msgs(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"message {i}"} for i in range(n)]


def warm(manager: SessionManager) -> None:
    """Connect and load every script the measured operations use."""
    session = manager.create("warm")
    session.extend(msgs(3))
    point = session.checkpoint()
    session.restore(point.id)
    manager.get(session.id)
    session.messages(limit=2)
    manager.list("warm")


def test_round_trips_standalone(private: PrivateRedis) -> None:
    store = counted_store(private, "rt:")
    manager = SessionManager(store)
    warm(manager)
    session = measure(private, "create", 1, lambda: manager.create("assistant", user_id="u"))
    measure(private, "append", 1, lambda: session.append({"role": "user", "content": "hi"}))
    measure(private, "extend(50)", 1, lambda: session.extend(msgs(50)))
    for _ in range(10):  # a history much longer than the page
        session.extend(msgs(50))
    page = measure(private, "messages(limit=100)", 1, lambda: session.messages(limit=100))
    assert len(page) == 100
    # Inside the script: a handful of commands (an LRANGE of the path list and
    # one HMGET of the entries), not one per entry of the 600-long history.
    inside = dict(COMMANDS["messages(limit=100)"])
    assert inside.pop("evalsha") == 1
    assert sum(inside.values()) <= 10, inside
    measure(private, "get", 1, lambda: manager.get(session.id))
    assert COMMANDS["get"] == {"hgetall": 1}
    point = measure(private, "checkpoint", 2, session.checkpoint)  # the head, the save
    measure(private, "restore", 2, lambda: session.restore(point.id))
    for _ in range(3):
        manager.create("assistant", user_id="u")
    rows = measure(private, "list", 1, lambda: manager.list("assistant", user_id="u", limit=3))
    assert len(rows) == 3 and session.id not in [r.id for r in rows]
    assert COUNTED == {
        "create": 1,
        "append": 1,
        "extend(50)": 1,
        "messages(limit=100)": 1,
        "get": 1,
        "checkpoint": 2,
        "restore": 2,
        "list": 1,
    }
    manager.close()


def index_members(client: Any, keys: Keys, owner: str) -> set[str]:
    """Every id any listing index (and the owner map) of ``owner`` holds."""
    found: set[str] = set(client.hkeys(keys.owner))
    for key in [keys.all, keys.exp, *keys.owned(owner)]:
        found |= set(client.zrange(key, 0, -1))
    return found


def test_list_tops_up_past_gone_sessions_in_one_round_trip(private: PrivateRedis) -> None:
    """Rows Redis dropped by itself (expiry, eviction) are skipped and unlisted
    inside the one listing script, which reads on down the index to fill the page."""
    store = counted_store(private, "ls:")
    clock = FakeClock()
    manager = SessionManager(store, clock=clock)
    warm(manager)
    made = []
    for _ in range(7):
        clock.advance(1)
        made.append(manager.create("lister", user_id="u").id)
    keys, owner = Keys("ls:"), owner_of("lister", "u")
    raw = redis.Redis(port=private.port, decode_responses=True)
    for sid in made[-4:]:  # the four newest vanish behind the store's back
        raw.delete(*keys.session(sid))
    page = measure(
        private, "list past gone ids", 1, lambda: manager.list("lister", user_id="u", limit=2)
    )
    assert [r.id for r in page] == [made[2], made[1]]
    assert index_members(raw, keys, owner) == set(made[:3]) | {s.id for s in manager.list("warm")}
    assert [r.id for r in manager.list("lister", user_id="u", offset=1)] == [made[1], made[0]]
    raw.close()
    manager.close()


def test_owner_cache_forgets_one_entry_at_a_time(private: PrivateRedis) -> None:
    """The owner cache is bounded, and filling it forgets the least recently
    used sessions only: one in use keeps its owner, so its append stays one
    round trip (an unknown owner costs a second one, for the listing indexes)."""
    store = counted_store(private, "lru:")
    manager = SessionManager(store)
    warm(manager)
    owners = store._db.owners
    for n in range(OWNER_CACHE - len(owners) - 1):
        store._db.remember(f"other-{n}", "agent\t-")
    session = manager.create("assistant", user_id="u")
    assert len(owners) == OWNER_CACHE
    oldest_first = list(owners)
    for n in range(100):  # past the bound: the oldest go, one by one
        store._db.remember(f"more-{n}", "agent\t-")
    assert len(owners) == OWNER_CACHE
    assert set(oldest_first[:100]).isdisjoint(owners)
    assert set(oldest_first[100:]) <= owners.keys()
    assert session.id in owners
    measure(private, "append after eviction", 1, lambda: session.append({"n": 1}))
    assert [r.id for r in manager.list("assistant", user_id="u")] == [session.id]
    manager.close()
