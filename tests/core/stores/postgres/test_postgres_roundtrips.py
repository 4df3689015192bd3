"""Round trips per call, counted on the wire.

The store under test talks to PostgreSQL through a small TCP relay that reads
the server's side of the protocol and counts ``ReadyForQuery`` messages: the
server sends exactly one per request cycle, so the count between two calls is
the number of round trips the call made -- whatever the driver does
(prepares, BEGIN/COMMIT, syncs). Each call is repeated past psycopg's prepare
threshold, so the budget holds for the first use of a statement on a
connection as well as afterwards.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from agentsession import AsyncSessionManager, SessionManager
from agentsession.stores.postgres._async.store import AsyncPostgresStore
from agentsession.stores.postgres._sync.store import PostgresStore
from agentsession.testing import FakeClock

from . import test_postgres as shared

dsn, pg_schema = shared.dsn, shared.pg_schema

BUDGET = {
    "create": 1,
    "get": 1,
    "append": 1,
    "extend(50)": 1,
    "messages(limit=100)": 1,
    "checkpoint": 2,  # the head, the save
    "restore": 2,
    "list": 1,
    "update_metadata": 1,
    "switch": 1,
    "pop": 2,
    "branches": 1,
    "entries": 1,
    "delete": 1,
}
REPEAT = 7  # past psycopg's prepare_threshold (5)


class Wire:
    """A TCP relay to PostgreSQL that counts ReadyForQuery ('Z') messages."""

    def __init__(self, target: str) -> None:
        params = conninfo_to_dict(target)
        self._upstream = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        # No SSL/GSS negotiation: after startup both directions are plain
        # typed messages (type byte, int32 length, payload).
        self.dsn = make_conninfo(
            target, host="127.0.0.1", port=port, sslmode="disable", gssencmode="disable"
        )
        self._ready = 0
        self._seen = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self) -> int:
        """Round trips since the last call."""
        with self._lock:
            spent, self._seen = self._ready - self._seen, self._ready
        return spent

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        pending = b""
        while True:
            try:
                chunk = source.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                sink.close()
                return
            if count:
                pending = self._count(pending + chunk)
            try:
                sink.sendall(chunk)  # counted first: the caller never sees an uncounted reply
            except OSError:
                return

    def _count(self, data: bytes) -> bytes:
        offset = 0
        while len(data) - offset >= 5:
            kind, length = data[offset : offset + 1], struct.unpack_from("!i", data, offset + 1)[0]
            if len(data) - offset < 1 + length:
                break
            if kind == b"Z":
                with self._lock:
                    self._ready += 1
            offset += 1 + length
        return data[offset:]


@pytest.fixture
def wire(dsn: str) -> Iterator[Wire]:
    relay = Wire(dsn)
    yield relay
    relay.close()


def _pool_kwargs() -> dict[str, Any]:
    return {
        "min_size": 1,
        "max_size": 1,
        "open": False,
        "kwargs": {"autocommit": True, "options": "-c plan_cache_mode=force_generic_plan"},
    }


@pytest.fixture
def manager(dsn: str, pg_schema: str, wire: Wire) -> Iterator[SessionManager]:
    pool: ConnectionPool[Any] = ConnectionPool(wire.dsn, **_pool_kwargs())
    store = PostgresStore(pool, schema=pg_schema, close_pool=True)
    with SessionManager(store, clock=FakeClock()) as mgr:
        yield mgr


@pytest_asyncio.fixture
async def amanager(dsn: str, pg_schema: str, wire: Wire) -> AsyncIterator[AsyncSessionManager]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(wire.dsn, **_pool_kwargs())
    store = AsyncPostgresStore(pool, schema=pg_schema, close_pool=True)
    async with AsyncSessionManager(store, clock=FakeClock()) as mgr:
        yield mgr


def msg(n: int) -> dict[str, str]:
    return {"role": "user", "content": f"message {n}"}


def test_round_trips_sync(manager: SessionManager, wire: Wire) -> None:
    manager.list()  # opens the pool and checks the migrations
    wire.count()
    spent: dict[str, list[int]] = {name: [] for name in BUDGET}

    def measure(name: str, call: Callable[..., object], *args: Any) -> Any:
        result = call(*args)
        spent[name].append(wire.count())
        return result

    for round_ in range(REPEAT):
        measure("create", manager.create, "assistant")
        session = manager.create("assistant", user_id="alice")
        session.extend([msg(i) for i in range(300)])  # history to read past
        wire.count()
        measure("get", manager.get, session.id)
        measure("append", session.append, msg(1))
        measure("extend(50)", session.extend, [msg(i) for i in range(50)])
        measure("messages(limit=100)", session.messages, 100)
        point = measure("checkpoint", session.checkpoint)
        measure("checkpoint", session.checkpoint, "named", {"round": round_})
        first = session.messages(limit=1)[0]
        wire.count()
        measure("switch", session.switch, first.id)
        measure("append", session.append, msg(2))  # now a branched tree
        measure("messages(limit=100)", session.messages, 100)
        measure("restore", session.restore, point.id)
        measure("pop", session.pop)
        measure("branches", session.branches)
        measure("entries", session.entries)
        measure("update_metadata", session.update_metadata, {"round": round_})
        measure("list", manager.list, "assistant")
        measure("delete", manager.delete, session.id)
    over = {name: counts for name, counts in spent.items() if max(counts) > BUDGET[name]}
    assert not over, f"over budget {BUDGET}: {over}"
    print({name: max(counts) for name, counts in spent.items()})


@pytest.mark.asyncio
async def test_round_trips_async(amanager: AsyncSessionManager, wire: Wire) -> None:
    await amanager.list()
    wire.count()
    spent: dict[str, list[int]] = {name: [] for name in BUDGET}
    for _ in range(REPEAT):
        await amanager.create("assistant", user_id="alice")
        spent["create"].append(wire.count())
        session = await amanager.create("assistant")
        await session.extend([msg(i) for i in range(300)])
        wire.count()
        await amanager.get(session.id)
        spent["get"].append(wire.count())
        await session.append(msg(1))
        spent["append"].append(wire.count())
        await session.extend([msg(i) for i in range(50)])
        spent["extend(50)"].append(wire.count())
        await session.messages(limit=100)
        spent["messages(limit=100)"].append(wire.count())
        point = await session.checkpoint()
        spent["checkpoint"].append(wire.count())
        await session.append(msg(2))
        wire.count()
        await session.restore(point.id)
        spent["restore"].append(wire.count())
    over = {name: counts for name, counts in spent.items() if counts and max(counts) > BUDGET[name]}
    assert not over, f"over budget {BUDGET}: {over}"
    print({name: max(counts) for name, counts in spent.items() if counts})
