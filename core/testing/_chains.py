"""Checks and drivers for concurrency tests that any store's suite can reuse."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from .._models import Entry

__all__ = ["assert_one_chain", "process_appends"]


def assert_one_chain(entries: Sequence[Entry], expected: int) -> None:
    """``entries`` (a path, oldest first) is one unbroken chain of ``expected``
    entries: each parent is the previous entry, ids unique, indexes in step."""
    assert len(entries) == expected, f"expected {expected} entries, found {len(entries)}"
    ids = [e.id for e in entries]
    assert len(set(ids)) == expected, "duplicate entry ids"
    previous = None
    for position, entry in enumerate(entries, start=1):
        assert entry.parent_id == previous, f"entry {position} is not chained to its predecessor"
        assert entry.depth == position, f"entry {position} has depth {entry.depth}"
        previous = entry.id


def _child(
    url: str, session_id: str, appends: int, worker: int, ready: Event, go: Event, timeout: float
) -> None:
    from .._sync.manager import SessionManager

    with SessionManager(url) as manager:
        session = manager.get(session_id)
        # Spawned children take a few hundred ms to import and connect: none
        # starts before all are ready, so they do overlap.
        ready.set()
        if not go.wait(timeout):
            raise TimeoutError("the other append processes never got ready")
        for n in range(appends):
            session.append({"role": "user", "content": f"worker {worker} message {n}"})


def process_appends(
    url: str, *, processes: int = 4, appends: int = 250, timeout: float = 120
) -> str:
    """Create a session at ``url`` and have ``processes`` separate interpreters
    append ``appends`` messages each to it at the same time. Returns its id.

    The processes are spawned (not forked) so each opens its own connections,
    and all start appending at once, after every one has opened the session.

    Raises:
        AssertionError: a process failed, or was not ready or not done within
            ``timeout`` seconds (a stuck process is killed).
    """
    from .._sync.manager import SessionManager

    with SessionManager(url) as manager:
        session_id = manager.create("conformance").id
    ctx = multiprocessing.get_context("spawn")
    ready = [ctx.Event() for _ in range(processes)]
    go = ctx.Event()
    workers = [
        ctx.Process(target=_child, args=(url, session_id, appends, w, ready[w], go, timeout))
        for w in range(processes)
    ]
    try:
        for proc in workers:
            proc.start()
        _await_ready(workers, ready, time.monotonic() + timeout)
        go.set()  # wakes every child at once
        deadline = time.monotonic() + timeout
        for proc in workers:
            proc.join(max(0.0, deadline - time.monotonic()))
    finally:
        for proc in workers:
            if proc.is_alive():
                proc.kill()
                proc.join()
    codes = [proc.exitcode for proc in workers]
    if any(code != 0 for code in codes):
        raise AssertionError(f"append processes failed with exit codes {codes}")
    return session_id


def _await_ready(workers: Sequence[BaseProcess], ready: Sequence[Event], deadline: float) -> None:
    # Polled rather than one blocking wait, so a child that dies while
    # starting fails the test at once instead of after the whole timeout.
    while not all(event.is_set() for event in ready):
        dead = [
            p.exitcode
            for p, e in zip(workers, ready, strict=True)
            if not (p.is_alive() or e.is_set())
        ]
        if dead:
            raise AssertionError(f"an append process exited before it was ready ({dead})")
        if time.monotonic() > deadline:
            raise AssertionError("append processes were not all ready in time")
        time.sleep(0.01)
