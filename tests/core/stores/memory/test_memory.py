"""The conformance suite on the memory store, sync and async."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from agentsession import UNCHECKED, Session, SessionManager
from agentsession.stores.memory._store import AsyncMemoryStore, MemoryStore
from agentsession.testing import AsyncStoreConformance, StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        store._tamper(session_id, entry_id, data)


class TestAsyncMemoryStore(AsyncStoreConformance):
    # No I/O, so tasks never interleave on one loop; threads with loops do.
    shared_across_loops = True

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[AsyncMemoryStore]:
        store = AsyncMemoryStore()
        yield store
        await store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        store._tamper(session_id, entry_id, data)


def test_listing_every_session_matches_a_full_sort_after_any_history() -> None:
    # The listing walks an ordered index of (updated_at, id) instead of
    # sorting every session: after creates, writes, deletes, renames and a
    # clock that sometimes goes back, it must still equal the full sort.
    rng = random.Random(7)
    moment = datetime(2026, 1, 1, tzinfo=UTC)

    def clock() -> datetime:
        nonlocal moment
        moment += timedelta(microseconds=rng.choice([-50, 0, 1, 1, 7, 1000]))
        return moment

    store = MemoryStore()
    manager = SessionManager(store, clock=clock)
    live: list[Session] = []
    for step in range(3000):
        action = rng.random()
        if action < 0.25 or not live:
            live.append(manager.create(rng.choice(["a", "b"]), user_id=rng.choice(["u", "v"])))
        elif action < 0.7:
            rng.choice(live).append({"role": "user", "content": str(step)})
        elif action < 0.8:
            rng.choice(live).update_metadata({"n": step})
        elif action < 0.87:
            doomed = live.pop(rng.randrange(len(live)))
            manager.delete(doomed.id)
        else:
            index = rng.randrange(len(live))
            live[index] = manager.rotate_id(live[index].id)
        if step % 97 == 0:
            now = clock()
            for agent in (None, "a", "b"):
                everything = [
                    s for s in store._sessions.values() if agent is None or s.info.agent == agent
                ]
                expected = sorted(
                    (s.info for s in everything), key=lambda i: (i.updated_at, i.id), reverse=True
                )
                for offset, limit in ((0, 5), (3, 10), (0, 10_000), (0, 0), (2, 0)):
                    got = store.list_sessions(
                        agent=agent, user_id=UNCHECKED, limit=limit, offset=offset, now=now
                    )
                    assert [(i.id, i.revision) for i in got] == [
                        (i.id, i.revision) for i in expected[offset : offset + limit]
                    ]
    assert len(store._recent) <= 2 * len(store._sessions) + 1024
