"""The conformance suite on the memory store, sync and async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

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
