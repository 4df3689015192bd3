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
The systems of a group are measured side by side, repeat by repeat in turn
(:func:`run_workload`), so a slow spell of the machine falls on all of them.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
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

    async def round(self, one: Callable[[int], Awaitable[float]]) -> None:
        """One repeat: ``one(i)`` runs its own untimed preparation and returns
        the timed seconds."""
        cfg = self.cfg
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


class _Step:
    """One figure of one system: ``start`` and ``stop`` prepare and release
    (untimed), ``one(i)`` returns the seconds of the i-th timed operation."""

    op = ""

    def __init__(self, adapter: Adapter, param: int | None) -> None:
        self.adapter = adapter
        self.param = param
        self.handle: Handle = None

    async def start(self) -> None:
        if self.param is not None:
            self.handle = await _session_at(self.adapter, self.param)

    async def one(self, i: int) -> float:
        raise NotImplementedError

    async def stop(self) -> None:
        if self.handle is not None:
            await _call(self.adapter, self.adapter.release, self.handle)


class _Create(_Step):
    op = "create"

    async def one(self, i: int) -> float:
        dt, handle = await _timed(self.adapter, self.adapter.create, message(i))
        await _call(self.adapter, self.adapter.release, handle)
        return dt


class _AppendAt(_Step):
    """Each session takes at most H/10 appends, so H drifts by 10 % at most."""

    op = "append"

    async def start(self) -> None:
        self.used = self.per_session = max(1, (self.param or 0) // 10)

    async def one(self, i: int) -> float:
        if self.used >= self.per_session:
            await self.stop()
            self.handle = await _session_at(self.adapter, self.param or 0)
            self.used = 0
        self.used += 1
        dt, _ = await _timed(self.adapter, self.adapter.append, self.handle, message(i))
        return dt


class _Read(_Step):
    async def one(self, i: int) -> float:
        adapter, history = self.adapter, self.param or 0
        fn = adapter.last100 if self.op == "last100" else adapter.read_all
        dt, rows = await _timed(adapter, fn, self.handle)
        expected = min(history, 100) if self.op == "last100" else history
        if len(rows) != expected:
            raise AssertionError(f"{adapter.name} {self.op}: {len(rows)} rows, expected {expected}")
        return dt


class _Last100(_Read):
    op = "last100"


class _All(_Read):
    op = "all"


class _Checkpoint(_Step):
    """Repeated checkpoints of one head; the session stays for :class:`_Restore`."""

    op = "checkpoint"

    async def one(self, i: int) -> float:
        dt, _ = await _timed(self.adapter, self.adapter.checkpoint, self.handle)
        return dt

    async def stop(self) -> None:
        pass


class _Restore(_Step):
    """Restores of one checkpoint of the session :class:`_Checkpoint` measured."""

    op = "restore"

    def __init__(self, taken: _Checkpoint) -> None:
        super().__init__(taken.adapter, taken.param)
        self.taken = taken

    async def start(self) -> None:
        self.handle = self.taken.handle
        self.point = await _call(self.adapter, self.adapter.checkpoint, self.handle)

    async def one(self, i: int) -> float:
        dt, _ = await _timed(self.adapter, self.adapter.restore, self.handle, self.point)
        return dt


async def _side_by_side(
    steps: Sequence[_Step], cfg: Config, done: Callable[[_Step, Result], None]
) -> None:
    """The same figure of several systems, measured repeat by repeat in turn:
    a slow spell of the machine falls on all of them, not on one."""
    for step in steps:
        await step.start()
    measures = [_Measure(cfg) for _ in steps]
    for _ in range(cfg.repeats):
        for step, measure in zip(steps, measures, strict=True):
            await measure.round(step.one)
    for step, measure in zip(steps, measures, strict=True):
        await step.stop()
        done(step, measure.result(step.adapter, step.op, step.param))


async def run_workload(
    adapters: list[Adapter],
    cfg: Config,
    log: Callable[[str], None],
    *,
    writes_only: bool = False,
) -> list[Result]:
    """The embedded-stores workload on open adapters, each figure measured
    for all of them side by side (:func:`_side_by_side`).

    ``writes_only``: create and append only (a second durability level, where
    reads would measure the same thing again)."""
    results: list[Result] = []

    def done(step: _Step, r: Result) -> None:
        results.append(r)
        param = "" if r.param is None else f" H={r.param}"
        log(f"  {step.adapter.name:<44} {r.op + param:<18} {r.median_s * 1e6:>10.1f} us")

    async def each(kind: type[_Step], param: int | None) -> None:
        await _side_by_side([kind(a, param) for a in adapters], cfg, done)

    await each(_Create, None)
    for h in cfg.history:
        await each(_AppendAt, h)
    if writes_only:
        return results
    for h in cfg.last_history:
        await each(_Last100, h)
    await each(_All, 1_000)
    keeping = [a for a in adapters if a.has_checkpoints]
    if keeping:
        taken = [_Checkpoint(a, 1_000) for a in keeping]
        await _side_by_side(taken, cfg, done)
        await _side_by_side([_Restore(t) for t in taken], cfg, done)
    return results
