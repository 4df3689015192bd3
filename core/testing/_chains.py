"""Checks and drivers for concurrency tests that any store's suite can reuse."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence

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


def _child(url: str, session_id: str, appends: int, worker: int, start: object) -> None:
    from .._sync.manager import SessionManager

    with SessionManager(url) as manager:
        session = manager.get(session_id)
        start.wait()  # type: ignore[attr-defined]
        for n in range(appends):
            session.append({"role": "user", "content": f"worker {worker} message {n}"})


def process_appends(url: str, *, processes: int = 4, appends: int = 250) -> str:
    """Create a session at ``url`` and have ``processes`` separate interpreters
    append ``appends`` messages each to it at the same time. Returns its id.

    The processes are spawned (not forked) so each opens its own connections.
    """
    from .._sync.manager import SessionManager

    with SessionManager(url) as manager:
        session_id = manager.create("conformance").id
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [
        ctx.Process(target=_child, args=(url, session_id, appends, w, start))
        for w in range(processes)
    ]
    for proc in workers:
        proc.start()
    start.set()
    for proc in workers:
        proc.join(timeout=300)
    codes = [proc.exitcode for proc in workers]
    if any(code != 0 for code in codes):
        raise AssertionError(f"append processes failed with exit codes {codes}")
    return session_id
