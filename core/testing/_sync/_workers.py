"""Run workers concurrently: threads on the sync side (tasks on the async side)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

__all__ = ["run_workers"]


def run_workers(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0) .. work(count - 1)`` in threads; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def target(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(target, n))
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
