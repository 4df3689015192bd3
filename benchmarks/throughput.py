"""16 concurrent async clients, each appending to its own session, on one store object.

Sync systems are driven the way their own async API does it (LangChain's
``aadd_messages`` runs ``add_messages`` in the default executor): one thread
hop per append, through ``asyncio.to_thread``. The messages are made before
the clock starts, so the event loop's time goes to the appends alone.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from .adapters.base import Adapter
from .harness import Config, Result, _call, about
from .workload import message, messages

__all__ = ["run_throughput"]

#: Messages made ahead, used in turn (more than one client appends in a run).
_MADE = 4096


async def _append(adapter: Adapter, handle: Any, msg: dict[str, Any]) -> None:
    if adapter.is_async:
        await adapter.append(handle, msg)
    else:
        await asyncio.to_thread(adapter.append, handle, msg)


async def _one_run(adapter: Adapter, cfg: Config) -> float:
    handles = [await _call(adapter, adapter.new_empty) for _ in range(cfg.throughput_clients)]
    for h in handles:  # each session exists and holds one message before the clock starts
        await _append(adapter, h, message(0))
    counts = [0] * len(handles)
    made = messages(1, _MADE)
    stop = time.perf_counter() + cfg.throughput_s

    async def client(k: int) -> None:
        i = 1
        while time.perf_counter() < stop:
            await _append(adapter, handles[k], made[i % _MADE])
            i += 1
            counts[k] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(len(handles))))
    elapsed = time.perf_counter() - t0
    for h in handles:
        await _call(adapter, adapter.release, h)
    return sum(counts) / elapsed


async def run_throughput(adapters: list[Adapter], cfg: Config) -> list[Result]:
    """Each system's runs in turn, run by run (as ``harness`` measures the
    other figures): a slow spell of the machine falls on all of them."""
    rates: list[list[float]] = [[] for _ in adapters]
    for _ in range(cfg.throughput_repeats):
        for adapter, runs in zip(adapters, rates, strict=True):
            runs.append(await _one_run(adapter, cfg))
    return [
        Result(
            **about(adapter),
            mode="async" if adapter.is_async else "sync via to_thread",
            op="throughput16",
            param=cfg.throughput_clients,
            median_s=statistics.median(runs),
            low_s=min(runs),
            high_s=max(runs),
            ops=cfg.throughput_repeats,
            unit="ops/s",
        )
        for adapter, runs in zip(adapters, rates, strict=True)
    ]
