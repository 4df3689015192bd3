"""Run workers concurrently: threads on the sync side (tasks on the async side)."""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable

__all__ = ["run_workers"]


#: Thread switch interval while workers run (seconds). The default 5 ms lets a
#: fast store (memory) finish a whole call between switches, so races would
#: go unseen; switching every few microseconds makes the threads interleave.
SWITCH_INTERVAL = 5e-6


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
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    if errors:
        raise errors[0]
