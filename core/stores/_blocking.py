"""Where a store's blocking calls run: the one part of the twins that differs by nature.

A store built on a blocking driver (``sqlite3``) keeps its transactions as
plain functions and hands each one, whole, to a runner:

* :class:`Runner` (sync twin) calls it right away, one call at a time, so
  a store object can be shared by threads.
* :class:`AsyncRunner` (async source) calls it on the store's own worker
  thread, so the event loop never waits on the disk; one thread hop per
  store call, however many statements the transaction holds.

A call the store knows to be short (:meth:`AsyncRunner.run_quick`) may skip
the hop: when the worker is idle and the store's ``attempt`` can do the call
without waiting on anything (another process's lock, a disk flush), it runs
right there on the event loop, as the memory store does; when it cannot,
``attempt`` raises :class:`WouldBlock` before changing anything and the call
goes to the worker as usual. See ``docs/design.md``, "Store protocol".

Groupable writes made before the loop next turns run as one transaction
(:meth:`AsyncRunner.run_grouped`: group commit, ``docs/design.md``).

``scripts/unasync.py`` turns ``AsyncRunner`` into ``Runner``, so the async
store's source works for both.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from agentsession._exceptions import StoreClosed

__all__ = ["AsyncRunner", "Group", "Outcome", "Runner", "WouldBlock"]

T = TypeVar("T")


def _closed() -> StoreClosed:
    return StoreClosed("the store is closed")


class WouldBlock(Exception):
    """Raised by an ``attempt`` that cannot do a call without waiting.

    It must be raised before the call has changed anything (a transaction
    not begun, or rolled back), so the call can be run again on the worker.
    """


class Attempt(Protocol):
    """Does one call without waiting, or raises :class:`WouldBlock`."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


class Group(Protocol):
    """Runs several calls in one unit; gives each its result or its error."""

    def __call__(self, calls: Sequence[Callable[[], Any]], /) -> list[Outcome]: ...


#: What one call of a group gave: its result, or its error.
Outcome = tuple[Any, Exception | None]


class Runner:
    """Runs calls in the caller's thread, one at a time."""

    def __init__(
        self,
        name: str = "agentsession",
        attempt: Attempt | None = None,
        group: Group | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._closed = False

    def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._closed:
                raise _closed()
            return fn()

    def run_quick(self, fn: Callable[[], T]) -> T:
        """The same as :meth:`run`: the caller's thread is where calls run anyway."""
        return self.run(fn)

    def run_grouped(self, fn: Callable[[], T], quick: bool) -> T:
        """The same as :meth:`run`: a thread's calls come one at a time, so
        there is nothing beside them to group with."""
        return self.run(fn)

    def defer(self, fn: Callable[[], None]) -> None:
        """Nothing: no call runs on a loop here, so there is no chore to move."""

    def close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (release resources) once; later :meth:`run` calls fail."""
        with self._lock:
            if not self._closed:
                self._closed = True
                fn()


class AsyncRunner:
    """Runs calls on one worker thread owned by this runner, in order.

    A bare thread and queue rather than an executor: the hand-off is the
    async store's whole overhead, and this one costs about half. A call
    cancelled before the worker reaches it is skipped; once started it
    completes (a transaction is never cut short) and its result is dropped.
    """

    def __init__(
        self,
        name: str = "agentsession",
        attempt: Attempt | None = None,
        group: Group | None = None,
    ) -> None:
        self._name = name
        self._lock = threading.Lock()
        # Held by whoever runs a call, the worker or an attempt on the loop:
        # the store's connection is used by one of them at a time.
        self._busy = threading.Lock()
        self._attempt = attempt
        self._group = group
        # Per event loop, the group still taking calls (until its flush runs).
        self._forming: dict[asyncio.AbstractEventLoop, _Batch] = {}
        # Groups waiting for the worker to go idle (``close`` sends them on).
        self._waiting: set[_Batch] = set()
        # Jobs queued or running: the worker is idle when there are none.
        self._gauge = _Gauge()
        self._waiters: queue.SimpleQueue[_Waiter] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[_Job | None] | None = None
        self._closed = False

    def _queue(self) -> queue.SimpleQueue[_Job | None]:
        with self._lock:
            if self._closed:
                raise _closed()
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
                # Daemon: a store nobody closed must not keep the process
                # alive; the queue is all the thread holds, so the runner
                # can be collected, and then the thread is told to stop.
                threading.Thread(
                    target=_work,
                    args=(self._jobs, self._busy, self._waiters, self._gauge),
                    name=self._name,
                    daemon=True,
                ).start()
                weakref.finalize(self, self._jobs.put, None)
            return self._jobs

    def _put(self, job: _Job) -> None:
        jobs = self._queue()
        self._gauge.add()
        jobs.put(job)

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((fn, future, loop))
        return await future

    async def run_quick(self, fn: Callable[[], T]) -> T:
        """:meth:`run` a short call, on the loop itself when that cannot wait.

        Inline while nobody else uses the store (the worker idle, its queue
        empty) and the store's ``attempt`` accepts. While the worker has
        work, the call waits for it to finish rather than queue behind it,
        so quick calls never pile up on the worker; only a call ``attempt``
        refuses (:class:`WouldBlock`: it must wait for a lock) goes there.
        """
        while True:
            got = self._here(fn)
            if not isinstance(got, _Later):
                return got
            if got is _WORKER:
                return await self.run(fn)
            woken = self._idle_waiter(asyncio.get_running_loop())
            if woken is not None:
                await woken

    def _here(self, fn: Callable[[], T]) -> T | _Later:
        """``fn`` attempted on the loop now, if nobody else uses the store:
        its result; ``_WAIT`` while the worker has work; ``_WORKER`` when
        ``attempt`` refuses it (it must wait for a lock), or there is none."""
        attempt = self._attempt
        if attempt is None:
            return _WORKER
        if not self._busy.acquire(blocking=False):
            return _WAIT
        try:
            if self._closed:
                raise _closed()
            if not self._idle():
                return _WAIT
            return attempt(fn)
        except WouldBlock:
            return _WORKER
        finally:
            self._busy.release()
            # Another loop's quick call may be waiting for this one.
            if not self._waiters.empty():
                _wake(self._waiters)

    def _idle_waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future set once the worker goes idle; ``None`` if it already is."""
        woken: asyncio.Future[None] = loop.create_future()
        self._waiters.put((woken, loop))
        # The worker may have gone idle before it could see this waiter.
        if self._busy.locked() or not self._idle():
            return woken
        return None

    async def run_grouped(self, fn: Callable[[], T], quick: bool) -> T:
        """:meth:`run` a write in one transaction with those made beside it.

        The calls made before the event loop next turns (every task ready
        now) form one group; the store's ``group`` runs them in one
        transaction, each caller still getting its own result or error. A
        group of short calls is attempted on the loop like
        :meth:`run_quick`; else, or when that would wait, it goes to the
        worker as one job: one hop and one commit for all of them.

        When nothing else is ready to run on the loop, no other call could
        join before the turn ends: the call runs at once as a group of one
        would, without the turn.
        """
        loop = asyncio.get_running_loop()
        if self._group is None or _alone(loop):
            return await (self.run_quick(fn) if quick else self.run(fn))
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise _closed()
            batch = self._forming.get(loop)
            leader = batch is None
            if batch is None:
                batch = self._forming[loop] = _Batch(loop, quick)
            batch.calls.append((fn, future))
            batch.quick = batch.quick and quick
        if leader:
            # The group's first call leads it: one turn of the loop lets
            # every task ready now add its call, then the leader runs the
            # group itself, so a group run on the loop hands the leader its
            # result without a second turn. Cancelled meanwhile, it runs
            # the others' calls and not its own.
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                future.cancel()
                raise
            finally:
                self._flush(loop, batch)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
        with self._lock:
            if self._forming.get(loop) is batch:
                del self._forming[loop]
        self._run_group(loop, batch, batch.quick)

    def _run_group(self, loop: asyncio.AbstractEventLoop, batch: _Batch, quick: bool) -> None:
        """Run a formed group: on the loop when it is short and nobody else
        uses the store (waiting, as :meth:`run_quick` does, while the worker
        has work), else on the worker as one job."""
        self._waiting.discard(batch)
        if batch.taken:
            return  # ``close`` sent it to the worker meanwhile
        calls = batch.calls = [(fn, future) for fn, future in batch.calls if not future.done()]
        group = self._group
        if not calls or group is None:
            return
        job = functools.partial(group, [fn for fn, _ in calls])
        if quick:
            try:
                got = self._here(job)
            except BaseException as exc:  # closed, or the group failed whole
                batch.taken = True
                _fail(calls, exc)
                return
            if not isinstance(got, _Later):
                batch.taken = True
                _deliver(calls, got)
                return
            if got is _WAIT:
                self._waiting.add(batch)
                woken = self._idle_waiter(loop)
                if woken is not None:
                    woken.add_done_callback(lambda _: self._run_group(loop, batch, True))
                else:
                    loop.call_soon(self._run_group, loop, batch, True)
                return
        batch.taken = True
        whole: asyncio.Future[list[Outcome]] = loop.create_future()
        whole.add_done_callback(functools.partial(_settle_group, calls))
        try:
            self._put((job, whole, loop))
        except StoreClosed as exc:
            _fail(calls, exc)

    def _idle(self) -> bool:
        return self._gauge.idle()

    def defer(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the worker without waiting for it (a chore that
        must not run on the loop); its errors are dropped. Nothing after close."""
        with contextlib.suppress(StoreClosed):
            self._put((fn, None, None))

    async def close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker after every call already queued, then stop it."""
        # Groups this loop formed were made before the close: they run first.
        loop = asyncio.get_running_loop()
        with self._lock:
            forming = self._forming.pop(loop, None)
        for batch in [forming, *self._waiting]:
            if batch is not None and batch.loop is loop:
                self._run_group(loop, batch, quick=False)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            jobs, self._jobs = self._jobs, None
        if jobs is None:
            fn()
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._gauge.add()
        jobs.put((fn, future, loop))
        jobs.put(None)
        await future


def _alone(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether nothing waits to run on ``loop``: then a turn of it would run
    the caller's own step first (I/O and timers that come due queue behind
    it), so no other call could join a group meanwhile. Read from the
    standard loop's queue of ready callbacks; a loop without one (uvloop)
    is never taken to be alone."""
    ready = getattr(loop, "_ready", None)
    return isinstance(ready, collections.deque) and not ready


class _Later:
    """Why :meth:`AsyncRunner._here` did not run a call (see its markers)."""


_WAIT = _Later()  # the worker has work: try again once it is idle
_WORKER = _Later()  # it must wait for a lock: the worker's to do

_Call = tuple[Callable[[], Any], "asyncio.Future[Any]"]


class _Batch:
    """Calls waiting to run as one group on ``loop``; whether all of them are
    short, and whether the group was taken (run, sent to the worker, failed)."""

    __slots__ = ("calls", "loop", "quick", "taken")

    def __init__(self, loop: asyncio.AbstractEventLoop, quick: bool) -> None:
        self.calls: list[_Call] = []
        self.loop = loop
        self.quick = quick
        self.taken = False


class _Gauge:
    """How many jobs are queued or running on a worker."""

    __slots__ = ("count", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self.lock:
            self.count += 1

    def done(self) -> bool:
        """One job finished; whether none is left."""
        with self.lock:
            self.count -= 1
            return self.count == 0

    def idle(self) -> bool:
        return self.count == 0


def _deliver(calls: Sequence[_Call], outcomes: list[Outcome]) -> None:
    for (_, future), (result, error) in zip(calls, outcomes, strict=True):
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


def _fail(calls: Sequence[_Call], error: BaseException) -> None:
    for _, future in calls:
        if not future.done():
            future.set_exception(error)


def _settle_group(
    calls: Sequence[_Call],
    whole: asyncio.Future[list[Outcome]],
) -> None:
    error = whole.exception()
    if error is not None:
        _fail(calls, error)
    else:
        _deliver(calls, whole.result())


_Job = tuple[Callable[[], Any], "asyncio.Future[Any] | None", asyncio.AbstractEventLoop | None]


_Waiter = tuple["asyncio.Future[None]", asyncio.AbstractEventLoop]


def _work(
    jobs: queue.SimpleQueue[_Job | None],
    busy: threading.Lock,
    waiters: queue.SimpleQueue[_Waiter],
    gauge: _Gauge,
) -> None:
    while (job := jobs.get()) is not None:
        with busy:
            settle = _do(*job)
        # The connection is free before the caller hears back: its next
        # short call can run on the loop instead of waiting for this thread.
        if gauge.done():
            _wake(waiters)
        if settle is not None:
            settle()
        # Hold nothing between jobs: the last call's closure would keep the
        # store (and its connection) alive after everyone else let go.
        del job, settle
    _wake(waiters)  # stopped: they find the runner closed


def _wake(waiters: queue.SimpleQueue[_Waiter]) -> None:
    while True:
        try:
            woken, loop = waiters.get_nowait()
        except queue.Empty:
            return
        with contextlib.suppress(RuntimeError):  # that loop is closed
            loop.call_soon_threadsafe(_settle_waiter, woken)


def _settle_waiter(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _do(
    fn: Callable[[], Any],
    future: asyncio.Future[Any] | None,
    loop: asyncio.AbstractEventLoop | None,
) -> Callable[[], None] | None:
    """Run one job; what tells its caller (None: nobody waits)."""
    if future is None or loop is None:  # a deferred chore: nobody waits
        with contextlib.suppress(Exception):
            fn()
        return None
    if future.cancelled():
        return None
    try:
        outcome: tuple[Any, BaseException | None] = (fn(), None)
    except BaseException as exc:  # delivered to the awaiting task
        outcome = (None, exc)
    return functools.partial(_send, loop, future, *outcome)


def _send(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
