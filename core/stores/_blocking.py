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

``scripts/unasync.py`` turns ``AsyncRunner`` into ``Runner``, so the async
store's source works for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from agentsession._exceptions import StoreClosed

__all__ = ["AsyncRunner", "Runner", "WouldBlock"]

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


class Runner:
    """Runs calls in the caller's thread, one at a time."""

    def __init__(self, name: str = "agentsession", attempt: Attempt | None = None) -> None:
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

    def __init__(self, name: str = "agentsession", attempt: Attempt | None = None) -> None:
        self._name = name
        self._lock = threading.Lock()
        # Held by whoever runs a call, the worker or an attempt on the loop:
        # the store's connection is used by one of them at a time.
        self._busy = threading.Lock()
        self._attempt = attempt
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
                    args=(self._jobs, self._busy, self._waiters),
                    name=self._name,
                    daemon=True,
                ).start()
                weakref.finalize(self, self._jobs.put, None)
            return self._jobs

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue().put((fn, future, loop))
        return await future

    async def run_quick(self, fn: Callable[[], T]) -> T:
        """:meth:`run` a short call, on the loop itself when that cannot wait.

        Inline while nobody else uses the store (the worker idle, its queue
        empty) and the store's ``attempt`` accepts. While the worker has
        work, the call waits for it to finish rather than queue behind it,
        so quick calls never pile up on the worker; only a call ``attempt``
        refuses (:class:`WouldBlock`: it must wait for a lock) goes there.
        """
        attempt = self._attempt
        if attempt is None:
            return await self.run(fn)
        while True:
            if self._busy.acquire(blocking=False):
                try:
                    if self._closed:
                        raise _closed()
                    if self._idle():
                        return attempt(fn)
                except WouldBlock:
                    break
                finally:
                    self._busy.release()
                    # Another loop's quick call may be waiting for this one.
                    if not self._waiters.empty():
                        _wake(self._waiters)
            await self._until_idle()
        return await self.run(fn)

    def _idle(self) -> bool:
        jobs = self._jobs
        return jobs is None or jobs.empty()

    async def _until_idle(self) -> None:
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        self._waiters.put((woken, loop))
        # The worker may have gone idle before it could see this waiter.
        if self._busy.locked() or not self._idle():
            await woken

    def defer(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the worker without waiting for it (a chore that
        must not run on the loop); its errors are dropped. Nothing after close."""
        with contextlib.suppress(StoreClosed):
            self._queue().put((fn, None, None))

    async def close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker after every call already queued, then stop it."""
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
        jobs.put((fn, future, loop))
        jobs.put(None)
        await future


_Job = tuple[Callable[[], Any], "asyncio.Future[Any] | None", asyncio.AbstractEventLoop | None]


_Waiter = tuple["asyncio.Future[None]", asyncio.AbstractEventLoop]


def _work(
    jobs: queue.SimpleQueue[_Job | None],
    busy: threading.Lock,
    waiters: queue.SimpleQueue[_Waiter],
) -> None:
    while (job := jobs.get()) is not None:
        with busy:
            _do(*job)
        # Hold nothing between jobs: the last call's closure would keep the
        # store (and its connection) alive after everyone else let go.
        del job
        if jobs.empty():
            _wake(waiters)
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
) -> None:
    if future is None or loop is None:  # a deferred chore: nobody waits
        with contextlib.suppress(Exception):
            fn()
        return
    if future.cancelled():
        return
    try:
        outcome: tuple[Any, BaseException | None] = (fn(), None)
    except BaseException as exc:  # delivered to the awaiting task
        outcome = (None, exc)
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
        loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
