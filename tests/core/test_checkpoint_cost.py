"""A checkpoint hashes only what was added since the last one its manager
took or verified, whatever the history: counted in entries read."""

from __future__ import annotations

from typing import Any

import pytest

from agentsession import SessionManager
from agentsession._canonical import chain_checksum
from agentsession._sync import manager as sync_manager
from agentsession.stores import MemoryStore


class Counting:
    """The real memory store, counting the entries ``read_path`` hands back."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != "read_path":
            return attr

        def read_path(*args: Any, **kwargs: Any) -> Any:
            info, path = attr(*args, **kwargs)
            self.read += len(path)
            return info, path

        return read_path


def test_a_checkpoint_reads_the_entries_added_since_the_last() -> None:
    inner = MemoryStore()
    store = Counting(inner)
    with SessionManager(store) as manager:
        s = manager.create("bot")
        for _ in range(5):
            s.extend([{"role": "user", "content": f"m{i}"} for i in range(1000)])
        s.checkpoint()  # the first one reads the path once
        for round_ in range(3):
            s.extend([{"role": "user", "content": f"more {i}"} for i in range(10)])
            store.read = 0
            point = manager.get(s.id).checkpoint(f"round {round_}")
            assert store.read <= 64
        digests = [e.digest for e in s.entries()]
        assert point.checksum == chain_checksum(digests) and len(digests) == 5030
        s.restore(point.id)
        # A manager that knows no checkpoint reads the whole path, to the same value.
        counting = Counting(inner)
        fresh = manager.with_store(counting)  # not closed: it would close the store
        again = fresh.get(s.id).checkpoint()
        assert counting.read == 5030 and again.checksum == point.checksum


def test_the_manager_remembers_a_bounded_number_of_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync_manager, "_POINT_HINTS", 2)
    store = Counting(MemoryStore())
    with SessionManager(store) as manager:
        sessions = [manager.create("bot") for _ in range(3)]
        for s in sessions:
            s.extend([{"role": "user", "content": f"m{i}"} for i in range(200)])
            s.checkpoint()
        # Newest first: a checkpoint of a forgotten one would push out another.
        for s, forgotten in zip(reversed(sessions), (False, False, True), strict=True):
            s.append({"role": "user", "content": "one more"})
            store.read = 0
            s.checkpoint()
            # The oldest was dropped: its next checkpoint reads the whole path.
            assert store.read == (201 if forgotten else 64), store.read
