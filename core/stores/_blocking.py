"""Where a store's blocking calls run: the one part of the twins that differs by nature.

A store built on a blocking driver (``sqlite3``) keeps its transactions as
plain functions and hands each one, whole, to a runner:

* :class:`Runner` (sync twin) calls it right away, one call at a time, so
  a store object can be shared by threads.
* :class:`AsyncRunner` (async source) calls it on the store's own worker
  thread, so the event loop never waits on the disk; one thread hop per
  store call, however many statements the transaction holds.

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
from typing import Any, TypeVar

from agentsession._exceptions import StoreClosed

__all__ = ["AsyncRunner", "Runner"]

T = TypeVar("T")


def _closed() -> StoreClosed:
    return StoreClosed("the store is closed")


class Runner:
    """Runs calls in the caller's thread, one at a time."""

    def __init__(self, name: str = "agentsession") -> None:
        self._lock = threading.Lock()
        self._closed = False

    def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._closed:
                raise _closed()
            return fn()

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

    def __init__(self, name: str = "agentsession") -> None:
        self._name = name
        self._lock = threading.Lock()
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
                    target=_work, args=(self._jobs,), name=self._name, daemon=True
                ).start()
                weakref.finalize(self, self._jobs.put, None)
            return self._jobs

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue().put((fn, future, loop))
        return await future

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


_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        _do(*job)
        # Hold nothing between jobs: the last call's closure would keep the
        # store (and its connection) alive after everyone else let go.
        del job


def _do(
    fn: Callable[[], Any], future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop
) -> None:
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
