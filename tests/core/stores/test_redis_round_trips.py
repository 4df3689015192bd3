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
from agentsession._sync.redis import RedisStore

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


def test_round_trips_standalone(private: PrivateRedis) -> None:
    store = RedisStore.from_url(
        private.url + "?key_prefix=rt:", connection_class=CountingConnection
    )
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
    point = measure(private, "checkpoint", 2, session.checkpoint)
    measure(private, "restore", 2, lambda: session.restore(point.id))
    assert COUNTED == {
        "create": 1,
        "append": 1,
        "extend(50)": 1,
        "messages(limit=100)": 1,
        "get": 1,
        "checkpoint": 2,
        "restore": 2,
    }
    manager.close()
