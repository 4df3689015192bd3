"""The SQLite store reads paths as the reference (memory) store does, on random trees.

The SQLite store cuts the tree into lines to read a path with range scans;
these tests grow trees with every shape the session API can make (appends,
batches, switches, pops, clears, other kinds) and compare every read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentsession import UNCHECKED, SessionInfo, Store
from agentsession.store import prepare_entry
from agentsession.stores import MemoryStore
from agentsession.stores.sqlite._sync.store import SQLiteStore

KINDS = ["message", "message", "message", "state", "tool_call"]
START = datetime(2031, 5, 6, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "paths.db")
    yield store
    store.close()


def grow(stores: list[Store], rng: random.Random, steps: int, clock: Clock) -> str:
    """Apply the same random history to every store; return the session id."""
    now = clock()
    info = SessionInfo(id=f"s{rng.randrange(10**9)}", agent="a", user_id=None, created_at=now,
                       updated_at=now)  # fmt: skip
    for store in stores:
        store.create_session(info)
    ids: list[str] = []
    for _ in range(steps):
        now = clock()
        head = stores[0].get_session(info.id, now=now).head
        roll = rng.random()
        if roll < 0.7 or not ids:
            batch = [
                prepare_entry(rng.choice(KINDS), {"n": len(ids) + i, "x": rng.random()}, now, None)
                for i in range(rng.choice([1, 1, 1, 2, 3]))
            ]
            for store in stores:
                store.append(info.id, batch, now=now, expires_at=None, expected_head=UNCHECKED)
            ids += [e.id for e in batch]
            continue
        if roll < 0.85:
            target: str | None = rng.choice(ids)  # switch / restore
        elif roll < 0.95 and head is not None:
            target = stores[0].get_entry(info.id, head, now=now).parent_id  # pop
        else:
            target = None  # clear
        for store in stores:
            store.set_head(info.id, target, now=now, expires_at=None)
    return info.id


def assert_same_reads(
    reference: Store, store: Store, session_id: str, rng: random.Random, clock: Clock
) -> None:
    now = clock()
    exported = reference.export_session(session_id, now=now)
    assert store.export_session(session_id, now=now) == exported
    info, leaves = store.list_leaves(session_id, now=now)
    expected_info, expected_leaves = reference.list_leaves(session_id, now=now)
    assert info == expected_info
    assert sorted(leaves, key=lambda e: e.id) == sorted(expected_leaves, key=lambda e: e.id)
    ids = [e.id for e in exported.entries]
    starts: list[str | None] = [None, *rng.sample(ids, min(len(ids), 30))]
    for before in starts:
        for kind in (None, "message", "state"):
            for limit in (None, 0, 1, 2, 7, 60):
                args = (before, limit, kind)
                expected = reference.read_path(
                    session_id, now=now, before=before, limit=limit, kind=kind
                )
                got = store.read_path(session_id, now=now, before=before, limit=limit, kind=kind)
                assert got == expected, args
                light = store.read_path(
                    session_id, now=now, before=before, limit=limit, kind=kind, with_data=False
                )[1]
                assert [(e.id, e.digest, e.depth) for e in light] == [
                    (e.id, e.digest, e.depth) for e in expected[1]
                ]


@pytest.mark.parametrize("seed", range(6))
def test_random_trees_read_like_the_reference(sqlite_store: SQLiteStore, seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    memory = MemoryStore()
    session_id = grow([memory, sqlite_store], rng, 150, clock)
    assert_same_reads(memory, sqlite_store, session_id, rng, clock)


def test_imported_trees_read_like_the_reference(sqlite_store: SQLiteStore) -> None:
    rng = random.Random(99)
    clock = Clock()
    memory = MemoryStore()
    session_id = grow([memory], rng, 200, clock)
    sqlite_store.import_session(memory.export_session(session_id, now=clock()))
    assert_same_reads(memory, sqlite_store, session_id, rng, clock)
    # and the imported tree keeps growing correctly
    grow_more = grow([memory, sqlite_store], rng, 50, clock)
    assert_same_reads(memory, sqlite_store, grow_more, rng, clock)


def test_deep_linear_history_reads_the_tail(sqlite_store: SQLiteStore) -> None:
    clock = Clock()
    memory = MemoryStore()
    now = clock()
    info = SessionInfo(id="deep", agent="a", user_id=None, created_at=now, updated_at=now)
    for store in (memory, sqlite_store):
        store.create_session(info)
    for block in range(20):
        now = clock()
        batch = [prepare_entry("message", {"n": block * 100 + i}, now, None) for i in range(100)]
        for store in (memory, sqlite_store):
            store.append("deep", batch, now=now, expires_at=None, expected_head=UNCHECKED)
    _, tail = sqlite_store.read_path("deep", now=clock(), limit=100, kind="message")
    assert [e.data["n"] for e in tail] == list(range(1900, 2000))
    assert_same_reads(memory, sqlite_store, "deep", random.Random(1), clock)


@pytest.mark.parametrize("forks", [0, 300])
def test_a_read_takes_the_same_statements_whatever_the_forks(
    sqlite_store: SQLiteStore, forks: int
) -> None:
    """Reading a path costs a constant number of statements: one range scan on
    a single line, one recursive statement over all the lines of a forked path."""
    from agentsession import SessionManager

    manager = SessionManager(sqlite_store)
    s = manager.create("bot")
    for i in range(forks):  # each entry gets a first child, then the path goes on via a second
        first = s.append({"role": "user", "content": f"a{i}"})
        if first.parent_id is None:
            s.clear()
        else:
            s.switch(first.parent_id)
        s.append({"role": "user", "content": f"b{i}"})
    s.extend([{"role": "assistant", "content": f"tail{i}"} for i in range(150)])
    assert len(s.branches()) == forks + 1

    statements: list[str] = []
    conn = sqlite_store._db._conn
    assert conn is not None
    conn.set_trace_callback(statements.append)
    try:
        for limit in (None, 100, 200):
            statements.clear()
            got = s.messages(limit=limit)
            reads = [q for q in statements if q.lstrip().upper().startswith(("SELECT", "WITH"))]
            assert len(reads) == 4, reads  # the session row, position, fork check, rows
            expected = [f"b{i}" for i in range(forks)] + [f"tail{i}" for i in range(150)]
            assert [m.data["content"] for m in got] == expected[-limit if limit else 0 :]
    finally:
        conn.set_trace_callback(None)


def test_a_checkpoint_reads_the_head_alone_on_a_forked_path(sqlite_store: SQLiteStore) -> None:
    """A checkpoint takes the head's path checksum from the head's row: one
    lookup, not the path's lines (no recursive statement), however forked."""
    from agentsession import SessionManager

    manager = SessionManager(sqlite_store)
    s = manager.create("bot")
    s.extend([{"role": "user", "content": f"m{i}"} for i in range(50)])
    for i in range(20):  # the head's line leaves another each time
        s.switch(s.messages(limit=2)[0].id)
        s.append({"role": "user", "content": f"branch{i}"})
    assert len(s.branches()) == 21

    statements: list[str] = []
    conn = sqlite_store._db._conn
    assert conn is not None
    conn.set_trace_callback(statements.append)
    try:
        point = s.checkpoint()
    finally:
        conn.set_trace_callback(None)
    entry_reads = [q for q in statements if "agentsession_entries" in q and "INSERT" not in q]
    assert not [q for q in statements if q.lstrip().upper().startswith("WITH")], statements
    # the head's row for its checksum, and the write's check that the head exists
    assert len(entry_reads) == 2, entry_reads
    assert point.entry_id == s.head
    s.append({"role": "user", "content": "after"})
    assert s.restore(point.id).id == point.id  # the checksum it recorded verifies
