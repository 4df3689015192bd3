"""Large data is checked and encoded off the event loop; small data in place."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agentsession import AsyncSessionManager
from agentsession._offload import OFF_LOOP_WEIGHT, weight
from agentsession.stores import AsyncMemoryStore


class _Where(Mapping[str, Any]):
    """A message that notes which threads read it whole."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.threads: set[int] = set()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.threads.add(threading.get_ident())
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_weight_counts_strings_and_container_items() -> None:
    assert weight([{"content": "x" * 100}]) == 100
    assert weight([{"items": list(range(10))}]) == 640
    assert weight([{"items": list(range(OFF_LOOP_WEIGHT))}]) > OFF_LOOP_WEIGHT


@pytest.mark.asyncio
async def test_large_data_is_encoded_off_the_loop_and_small_data_on_it() -> None:
    loop_thread = threading.get_ident()
    async with AsyncSessionManager(AsyncMemoryStore()) as manager:
        session = await manager.create("agent")
        small = _Where({"role": "user", "content": "hi"})
        await session.append(small)
        assert small.threads == {loop_thread}
        large = _Where({"role": "user", "items": list(range(100_000))})
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        before = ticks
        entry = await session.append(large)
        ticker.cancel()
        assert large.threads - {loop_thread}, "the large message was read on the loop only"
        assert ticks > before + 1  # the loop kept serving others meanwhile
        assert len(entry.data["items"]) == 100_000
