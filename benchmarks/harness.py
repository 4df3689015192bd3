"""Timing: each operation timed on its own, median per repeat, median of repeats.

The runner is one coroutine for sync and async systems alike: a sync call is
timed as a plain call (no event loop inside the timed region), an async call
is awaited. Preparation (creating and filling sessions) is never timed.
Garbage collection stays on while timing, as it is in the applications that
use these systems: a collection that falls inside an operation is part of
its cost. (Each repeat starts after a full collection, so the garbage one
system's preparation left behind is not collected inside another's timing.)
A figure rests on at least ``MIN_SAMPLES`` individually timed operations,
however slow the operation (checkpoint, restore, a peer's whole-history read).
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .adapters.base import Adapter, Handle
from .workload import message

__all__ = ["MIN_SAMPLES", "Config", "Result", "about", "run_workload"]

#: The fewest timed operations behind a published figure: ``repeats`` times
#: ``min_ops`` (a quick run is a smoke run and may take fewer).
MIN_SAMPLES = 20


@dataclasses.dataclass(frozen=True)
class Config:
    """How much to measure. ``quick`` is a smoke run, not a result to publish."""

    quick: bool = False
    repeats: int = 5
    max_ops: int = 200  # per repeat
    min_ops: int = 4  # per repeat, however slow the operation (5 x 4 = MIN_SAMPLES)
    budget_s: float = 0.15  # timed seconds per repeat, then stop (once min_ops ran)
    history: tuple[int, ...] = (0, 100, 1_000, 10_000)
    last_history: tuple[int, ...] = (100, 1_000, 10_000)
    list_sessions: int = 10_000
    cold_runs: int = MIN_SAMPLES  # fresh processes for the cold listing
    throughput_clients: int = 16
    throughput_s: float = 0.5
    throughput_repeats: int = MIN_SAMPLES

    def __post_init__(self) -> None:
        if self.quick:
            return
        least = min(self.repeats * self.min_ops, self.cold_runs, self.throughput_repeats)
        if least < MIN_SAMPLES:
            raise ValueError(f"every figure needs at least {MIN_SAMPLES} samples, not {least}")

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls()
        return cls(
            quick=True,
            repeats=3,
            max_ops=50,
            min_ops=3,
            budget_s=0.05,
            history=(0, 100, 1_000),
            last_history=(100, 1_000),
            list_sessions=500,
            cold_runs=2,
            throughput_s=0.25,
            throughput_repeats=2,
        )


@dataclasses.dataclass
class Result:
    system: str
    group: str
    role: str  # "ours", "peer", "floor"
    mode: str  # "sync", "async"
    durability: str
    op: str  # "create", "append", "last100", "all", "checkpoint", "restore", "list20", ...
    param: int | None  # history length H (or sessions for list20)
    median_s: float  # per operation (or per second for throughput: see unit)
    low_s: float  # lowest repeat median
    high_s: float  # highest repeat median
    ops: int  # operations timed in all
    unit: str = "s"  # "s" per op, or "ops/s"
    note: str = ""
    settings: dict[str, str] | None = None  # SQLite pragmas read back (durability.py)
    one_chain: bool | None = None  # see Adapter.one_chain


def about(adapter: Adapter) -> dict[str, Any]:
    """The fields of a :class:`Result` that describe the system, not the figure."""
    return {
        "system": adapter.name,
        "group": adapter.group,
        "role": adapter.role,
        "durability": adapter.durability,
        "settings": adapter.settings,
        "one_chain": adapter.one_chain,
    }


async def _call(adapter: Adapter, fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):  # untimed: base-class defaults are plain calls
        result = await result
    return result


async def _timed(adapter: Adapter, fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    if adapter.is_async:
        t0 = time.perf_counter()
        result = await fn(*args)
        return time.perf_counter() - t0, result
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


class _Measure:
    """Repeats of individually timed operations."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.medians: list[float] = []
        self.ops = 0

    async def repeat(self, one: Callable[[int], Awaitable[float]]) -> None:
        """``one(i)`` runs its own untimed preparation and returns the timed seconds."""
        cfg = self.cfg
        for _ in range(cfg.repeats):
            gc.collect()  # untimed; collection stays on while timing
            times: list[float] = []
            spent = 0.0
            for i in range(cfg.max_ops):
                dt = await one(i)
                times.append(dt)
                spent += dt
                if i + 1 >= cfg.min_ops and spent > cfg.budget_s:
                    break
            self.medians.append(statistics.median(times))
            self.ops += len(times)

    def result(self, adapter: Adapter, op: str, param: int | None) -> Result:
        return Result(
            **about(adapter),
            mode="async" if adapter.is_async else "sync",
            op=op,
            param=param,
            median_s=statistics.median(self.medians),
            low_s=min(self.medians),
            high_s=max(self.medians),
            ops=self.ops,
        )


async def _session_at(adapter: Adapter, history: int) -> Handle:
    handle = await _call(adapter, adapter.new_empty)
    if history:
        await _call(adapter, adapter.fill, handle, history)
        await _call(adapter, adapter.analyze)
    return handle


async def _append_at(adapter: Adapter, cfg: Config, history: int) -> Result:
    # Each session takes at most H/10 appends, so H drifts by 10 % at most.
    per_session = max(1, history // 10)
    state: dict[str, Any] = {"handle": None, "used": per_session}

    async def one(i: int) -> float:
        if state["used"] >= per_session:
            if state["handle"] is not None:
                await _call(adapter, adapter.release, state["handle"])
            state["handle"] = await _session_at(adapter, history)
            state["used"] = 0
        state["used"] += 1
        dt, _ = await _timed(adapter, adapter.append, state["handle"], message(i))
        return dt

    m = _Measure(cfg)
    await m.repeat(one)
    if state["handle"] is not None:
        await _call(adapter, adapter.release, state["handle"])
    return m.result(adapter, "append", history)


async def _create(adapter: Adapter, cfg: Config) -> Result:
    async def one(i: int) -> float:
        dt, handle = await _timed(adapter, adapter.create, message(i))
        await _call(adapter, adapter.release, handle)
        return dt

    m = _Measure(cfg)
    await m.repeat(one)
    return m.result(adapter, "create", None)


async def _reads(adapter: Adapter, cfg: Config, op: str, history: int) -> Result:
    handle = await _session_at(adapter, history)
    fn = adapter.last100 if op == "last100" else adapter.read_all

    async def one(i: int) -> float:
        dt, rows = await _timed(adapter, fn, handle)
        expected = min(history, 100) if op == "last100" else history
        if len(rows) != expected:
            raise AssertionError(f"{adapter.name} {op}: {len(rows)} rows, expected {expected}")
        return dt

    m = _Measure(cfg)
    await m.repeat(one)
    await _call(adapter, adapter.release, handle)
    return m.result(adapter, op, history)


async def _checkpoints(adapter: Adapter, cfg: Config, history: int) -> list[Result]:
    handle = await _session_at(adapter, history)

    async def take(i: int) -> float:
        dt, _ = await _timed(adapter, adapter.checkpoint, handle)
        return dt

    taken = _Measure(cfg)
    await taken.repeat(take)
    point = await _call(adapter, adapter.checkpoint, handle)

    async def restore(i: int) -> float:
        dt, _ = await _timed(adapter, adapter.restore, handle, point)
        return dt

    restored = _Measure(cfg)
    await restored.repeat(restore)
    await _call(adapter, adapter.release, handle)
    return [
        taken.result(adapter, "checkpoint", history),
        restored.result(adapter, "restore", history),
    ]


async def run_workload(
    adapter: Adapter, cfg: Config, log: Callable[[str], None], *, writes_only: bool = False
) -> list[Result]:
    """The embedded-stores workload on one open adapter.

    ``writes_only``: create and append only (a second durability level, where
    reads would measure the same thing again)."""
    results: list[Result] = []

    def done(r: Result) -> None:
        results.append(r)
        param = "" if r.param is None else f" H={r.param}"
        log(f"  {adapter.name:<44} {r.op + param:<18} {r.median_s * 1e6:>10.1f} us")

    done(await _create(adapter, cfg))
    for h in cfg.history:
        done(await _append_at(adapter, cfg, h))
    if writes_only:
        return results
    for h in cfg.last_history:
        done(await _reads(adapter, cfg, "last100", h))
    done(await _reads(adapter, cfg, "all", 1_000))
    if adapter.has_checkpoints:
        for r in await _checkpoints(adapter, cfg, 1_000):
            done(r)
    return results
