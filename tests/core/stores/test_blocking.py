"""Where a blocking store's calls run: the worker, or the loop for a short call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from agentsession import StoreClosed
from agentsession.stores._blocking import AsyncRunner, Outcome, Runner, WouldBlock

T = TypeVar("T")


class Gate:
    """An ``attempt`` that accepts or refuses, and counts what it saw."""

    def __init__(self) -> None:
        self.refuse = False
        self.tried = 0

    def __call__(self, fn: Callable[[], T], /) -> T:
        self.tried += 1
        if self.refuse:
            raise WouldBlock
        return fn()


@pytest.mark.asyncio
async def test_a_quick_call_runs_on_the_loop_when_the_worker_is_idle() -> None:
    gate = Gate()
    runner = AsyncRunner("t", gate)
    here = threading.get_ident()
    assert await runner.run_quick(threading.get_ident) == here
    assert gate.tried == 1
    assert await runner.run(threading.get_ident) != here
    assert await runner.run_quick(threading.get_ident) == here
    await runner.close(lambda: None)


@pytest.mark.asyncio
async def test_a_refused_attempt_goes_to_the_worker() -> None:
    gate = Gate()
    gate.refuse = True
    runner = AsyncRunner("t", gate)
    assert await runner.run_quick(threading.get_ident) != threading.get_ident()
    assert gate.tried == 1
    await runner.close(lambda: None)


@pytest.mark.asyncio
async def test_without_an_attempt_every_call_goes_to_the_worker() -> None:
    runner = AsyncRunner("t")
    assert await runner.run_quick(threading.get_ident) != threading.get_ident()
    await runner.close(lambda: None)


@pytest.mark.asyncio
async def test_a_quick_call_waits_for_the_worker_then_runs_on_the_loop() -> None:
    # Never on the connection at the same time as the worker, and never
    # queued behind it: it waits for the worker to be done, then runs inline.
    gate = Gate()
    runner = AsyncRunner("t", gate)
    release = threading.Event()
    inside = threading.Event()
    order: list[str] = []

    def slow() -> None:
        inside.set()
        release.wait(5)
        order.append("slow")

    def quick() -> int:
        order.append("quick")
        return threading.get_ident()

    slow_call = asyncio.create_task(runner.run(slow))
    await asyncio.to_thread(inside.wait, 5)
    quick_call = asyncio.create_task(runner.run_quick(quick))
    await asyncio.sleep(0.05)
    assert not quick_call.done() and order == []
    release.set()
    assert await quick_call == threading.get_ident()
    await slow_call
    assert order == ["slow", "quick"]
    await runner.close(lambda: None)


@pytest.mark.asyncio
async def test_queued_calls_go_first_and_many_quick_callers_do_not_pile_up() -> None:
    gate = Gate()
    runner = AsyncRunner("t", gate)
    seen: list[int] = []
    await asyncio.gather(
        runner.run(lambda: seen.append(threading.get_ident())),
        *(runner.run_quick(lambda: seen.append(threading.get_ident())) for _ in range(50)),
    )
    here = threading.get_ident()
    assert len(seen) == 51
    assert seen.count(here) == 50  # the queued call ran on the worker
    await runner.close(lambda: None)


class Grouper:
    """A ``group`` that runs its calls in turn and records each group's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, calls: Sequence[Callable[[], object]], /) -> list[Outcome]:
        self.sizes.append(len(calls))
        return [(call(), None) for call in calls]


@pytest.mark.asyncio
async def test_a_grouped_call_with_nothing_else_ready_runs_at_once() -> None:
    # Nothing could join it during a turn of the loop, so it takes none: it
    # runs as a short call would, on the loop, outside any group.
    gate, grouper = Gate(), Grouper()
    runner = AsyncRunner("t", gate, grouper)
    await asyncio.sleep(0)  # whatever the test's set-up left to run, ran
    assert await runner.run_grouped(threading.get_ident, True) == threading.get_ident()
    assert grouper.sizes == [] and gate.tried == 1
    # With a callback ready, the loop turns, even if no other call joins.
    asyncio.get_running_loop().call_soon(lambda: None)
    assert await runner.run_grouped(lambda: "turned", True) == "turned"
    assert grouper.sizes == [1]
    # Calls made together still form one group.
    both = await asyncio.gather(
        runner.run_grouped(lambda: 1, True), runner.run_grouped(lambda: 2, True)
    )
    assert list(both) == [1, 2] and grouper.sizes == [1, 2]
    await runner.close(lambda: None)


@pytest.mark.asyncio
async def test_a_deferred_chore_runs_on_the_worker_and_its_error_is_dropped() -> None:
    runner = AsyncRunner("t", Gate())
    ran: list[int] = []

    def chore() -> None:
        ran.append(threading.get_ident())
        raise RuntimeError("dropped")

    runner.defer(chore)
    assert await runner.run(threading.get_ident) == ran[0] != threading.get_ident()
    await runner.close(lambda: None)
    runner.defer(chore)  # after close: nothing, no error
    assert len(ran) == 1


@pytest.mark.asyncio
async def test_quick_calls_after_close_raise_store_closed() -> None:
    runner = AsyncRunner("t", Gate())
    await runner.run(lambda: None)
    await runner.close(lambda: None)
    with pytest.raises(StoreClosed):
        await runner.run_quick(lambda: None)


@pytest.mark.asyncio
async def test_a_quick_caller_waiting_on_a_closing_runner_gets_store_closed() -> None:
    runner = AsyncRunner("t", Gate())
    release = threading.Event()
    slow_call = asyncio.create_task(runner.run(lambda: release.wait(5)))
    await asyncio.sleep(0.02)
    waiting = asyncio.create_task(runner.run_quick(lambda: None))
    closing = asyncio.create_task(runner.close(lambda: None))
    await asyncio.sleep(0.02)
    release.set()
    await slow_call
    await closing
    with pytest.raises(StoreClosed):
        await asyncio.wait_for(waiting, 5)


def test_the_sync_runner_runs_quick_calls_in_the_callers_thread() -> None:
    runner = Runner("t", Gate())
    assert runner.run_quick(threading.get_ident) == threading.get_ident()
    runner.defer(lambda: pytest.fail("the sync runner has no chores to move"))
    runner.close(lambda: None)
    with pytest.raises(StoreClosed):
        runner.run_quick(lambda: None)


def test_a_quick_call_on_another_loop_runs_once_the_first_is_done() -> None:
    # Two threads, each with its own event loop, share one runner: the second
    # finds the first running inline and waits; the first must wake it.
    runner = AsyncRunner("t", Gate())
    inside, results = threading.Event(), []

    def first() -> None:
        def slow() -> str:
            inside.set()
            threading.Event().wait(0.2)
            return "first"

        results.append(asyncio.run(runner.run_quick(slow)))

    def second() -> None:
        inside.wait(5)
        call = runner.run_quick(lambda: "second")
        results.append(asyncio.run(asyncio.wait_for(call, 5)))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == ["first", "second"]
