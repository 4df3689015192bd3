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
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ._exceptions import StoreClosed

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
    """Runs calls on one worker thread owned by this runner, in order."""

    def __init__(self, name: str = "agentsession") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def _worker(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise _closed()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
            return self._executor

    async def run(self, fn: Callable[[], T]) -> T:
        try:
            future = self._worker().submit(fn)
        except RuntimeError:  # shut down between the check and the submit
            raise _closed() from None
        return await asyncio.wrap_future(future)

    async def close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker after every call already queued, then stop it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is None:
            fn()
            return
        try:
            await asyncio.wrap_future(executor.submit(fn))
        finally:
            executor.shutdown(wait=False)
