"""PostgreSQL reads paths two ways (a range scan while a session is one chain,
a recursive walk once it has branched): both must answer exactly like the
reference memory store. Random histories are applied to both stores with the
same inputs, and every kind of path read is compared after each step."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from agentsession import UNCHECKED, Checkpoint, Entry, InvalidInput, SessionManager
from agentsession.store import checksum, new_session_info, prepare_entry
from agentsession.stores import MemoryStore
from agentsession.stores.postgres._sync.store import PostgresStore
from agentsession.testing import FakeClock

from . import test_postgres as shared

# The fixtures of test_postgres: a DSN and a private schema per test.
dsn, pg_schema, pg_url = shared.dsn, shared.pg_schema, shared.pg_url

KINDS = ["message", "message", "message", "state", "tool"]


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[MemoryStore, PostgresStore]]:
    postgres = PostgresStore.from_url(pg_url)
    yield MemoryStore(), postgres
    postgres.close()


def _linear(dsn: str, schema: str, session_id: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f'SELECT linear FROM "{schema}".agentsession_session WHERE id = %s', (session_id,)
        ).fetchone()
    assert row is not None
    return bool(row[0])


class Twin:
    """The same calls on the memory store and PostgreSQL, results compared."""

    def __init__(self, memory: MemoryStore, postgres: PostgresStore, seed: int) -> None:
        self.memory, self.postgres = memory, postgres
        self.rng = random.Random(seed)
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.ids: list[str] = []
        self.log: list[str] = [f"seed {seed}"]
        info = new_session_info(
            session_id=None,
            agent="twin",
            user_id=None,
            metadata={"seed": seed},
            now=self.tick(),
            ttl=None,
            idle_timeout=None,
            max_messages=None,
        )
        self.sid = info.id
        memory.create_session(info)
        postgres.create_session(info)

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def both(self, name: str, *args: Any, **kwargs: Any) -> Any:
        expected = getattr(self.memory, name)(*args, **kwargs)
        actual = getattr(self.postgres, name)(*args, **kwargs)
        assert actual == expected, "\n".join([*self.log, f"{name} {args} {kwargs}"])
        return actual

    def step(self) -> None:
        roll = self.rng.random()
        now = self.tick()
        if roll < 0.6 or not self.ids:
            count = self.rng.choice([1, 1, 1, 2, 5])
            new = [
                prepare_entry(self.rng.choice(KINDS), {"n": len(self.ids) + i}, now, None)
                for i in range(count)
            ]
            self.log.append(f"append {[e.kind for e in new]}")
            self.both("append", self.sid, new, now=now, expires_at=None, expected_head=UNCHECKED)
            self.ids += [e.id for e in new]
        elif roll < 0.8:
            target = self.rng.choice([None, *self.ids])
            self.log.append(f"set_head {self.ids.index(target) if target else None}")
            self.both("set_head", self.sid, target, now=now, expires_at=None)
        else:
            _, last = self.memory.read_path(self.sid, now=now, limit=1, kind="message")
            target = last[0].parent_id if last else None
            self.log.append("pop")
            self.both("set_head", self.sid, target, now=now, expires_at=None)

    def compare_reads(self) -> None:
        now = self.tick()
        for limit in (None, 0, 1, 3, 100):
            for kind in (None, "message", "state", "tool"):
                self.both("read_path", self.sid, now=now, limit=limit, kind=kind)
        # Without data a store may leave `data` empty: compare the rest.
        info, expected = self.memory.read_path(self.sid, now=now, with_data=False)
        actual_info, actual = self.postgres.read_path(self.sid, now=now, with_data=False)
        assert actual_info == info
        assert [dataclasses.replace(e, data={}) for e in actual] == [
            dataclasses.replace(e, data={}) for e in expected
        ]
        for before in self.rng.sample(self.ids, min(3, len(self.ids))):
            for limit, kind in ((None, None), (2, "message"), (2, None), (None, "state")):
                self.both("read_path", self.sid, now=now, before=before, limit=limit, kind=kind)
        for entry_id in self.rng.sample(self.ids, min(2, len(self.ids))):
            self.both("get_entry", self.sid, entry_id, now=now)
        for store in (self.memory, self.postgres):
            with pytest.raises(InvalidInput):
                store.get_entry(self.sid, "no-such-entry", now=now)
        info, expected = self.memory.list_leaves(self.sid, now=now)
        actual_info, actual = self.postgres.list_leaves(self.sid, now=now)
        assert actual_info == info
        assert sorted(e.id for e in actual) == sorted(e.id for e in expected), self.log

    def compare_checkpoint(self) -> None:
        now = self.tick()
        info, path = self.memory.read_path(self.sid, now=now, with_data=False)
        point = Checkpoint(
            id=f"cp{len(self.log)}",
            session_id=self.sid,
            entry_id=info.head,
            created_at=now,
            name=None,
            metadata={},
            checksum=checksum(e.digest for e in path),
        )
        self.both("save_checkpoint", point, now=now, expires_at=None)
        self.both("get_checkpoint", self.sid, point.id, now=now, with_path=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paths_match_the_memory_store(
    stores: tuple[MemoryStore, PostgresStore], dsn: str, pg_schema: str, seed: int
) -> None:
    twin = Twin(*stores, seed=seed)
    was_linear = []
    for n in range(40):
        twin.step()
        was_linear.append(_linear(dsn, pg_schema, twin.sid))
        twin.compare_reads()
        if n % 10 == 9:
            twin.compare_checkpoint()
    # Both ways of reading were exercised.
    assert was_linear[0] is True and was_linear[-1] is False


def test_linear_session_reads_with_state_entries_and_pops(
    stores: tuple[MemoryStore, PostgresStore], dsn: str, pg_schema: str
) -> None:
    twin = Twin(*stores, seed=0)
    now = twin.tick()
    kinds = ["state", "message", "state", "state", "message", "tool", "message", "state"]
    new = [prepare_entry(k, {"i": i}, now, None) for i, k in enumerate(kinds)]
    twin.both("append", twin.sid, new, now=now, expires_at=None, expected_head=UNCHECKED)
    twin.ids = [e.id for e in new]
    twin.compare_reads()
    # Moving the head back keeps the chain linear; reads start from the head.
    for target in (new[5].id, new[1].id, None, new[7].id):
        twin.both("set_head", twin.sid, target, now=twin.tick(), expires_at=None)
        assert _linear(dsn, pg_schema, twin.sid)
        twin.compare_reads()
    entries: list[Entry] = twin.postgres.read_path(twin.sid, now=twin.tick())[1]
    assert [e.kind for e in entries] == kinds
    # Appending under a head that is not the deepest entry branches the tree.
    twin.both("set_head", twin.sid, new[3].id, now=twin.tick(), expires_at=None)
    more = [prepare_entry("message", {"branch": True}, twin.tick(), None)]
    twin.both("append", twin.sid, more, now=twin.now, expires_at=None, expected_head=UNCHECKED)
    twin.ids.append(more[0].id)
    assert not _linear(dsn, pg_schema, twin.sid)
    twin.compare_reads()


def _blocks(store: PostgresStore, session_id: str, limit: int) -> int:
    """Buffers the server touches to read the last `limit` messages, with the
    generic plan the store's prepared statement runs."""
    params: dict[str, Any] = {
        "sid": session_id,
        "now": datetime(2031, 1, 1, tzinfo=UTC),
        "before": None,
        "limit": limit,
        "kind": "message",
    }
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    text = re.sub(r"%\((\w+)\)s", placeholder, store._sql.read_path[True])
    with store.pool.connection() as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE probe AS {text}".replace("%%", "%"))
        args = ", ".join(sql.Literal(params[n]).as_string(conn) for n in names)
        try:
            row = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE probe({args})"
            ).fetchone()
        finally:
            conn.execute("DEALLOCATE probe")
    assert row is not None
    top = row[0][0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


def test_reading_the_last_messages_does_not_grow_with_history(pg_url: str) -> None:
    """The server's work for messages(limit=100) follows the limit, not the
    history: the same at 300 and 3 000 messages, on one chain and on a
    branched tree, under the generic plan the store's statements run."""
    store = PostgresStore.from_url(pg_url)
    sessions = SessionManager(store, clock=FakeClock())
    try:
        touched = {}
        for size in (300, 3000):
            session = sessions.create("assistant")
            for start in range(0, size, 500):
                session.extend(
                    [{"role": "user", "content": f"m{i}"} for i in range(start, start + 500)][
                        : size - start
                    ]
                )
            touched[size, "chain"] = _blocks(store, session.id, 100)
            first = session.messages(limit=size)[size // 2]
            session.switch(first.id)
            session.extend([{"role": "user", "content": "branch"}] * 200)
            touched[size, "tree"] = _blocks(store, session.id, 100)
            assert len(session.messages(limit=100)) == 100
        # About three index pages per entry walked, whatever the history; a
        # plan that scanned the table at each step would touch far more.
        assert all(blocks <= 4 * 100 + 50 for blocks in touched.values()), touched
        for shape in ("chain", "tree"):
            assert touched[3000, shape] <= touched[300, shape] * 1.5 + 10, touched
    finally:
        sessions.close()
