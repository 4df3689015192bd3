"""A checkpoint hashes only what was added since the nearest earlier one on
its path (the last its manager took or verified, else one the store keeps),
whatever the history: counted in entries read."""

from __future__ import annotations

from typing import Any

import pytest

from agentsession import IntegrityError, SessionManager
from agentsession._canonical import chain_checksum
from agentsession._sync import manager as sync_manager
from agentsession.stores import MemoryStore


class Counting:
    """The real memory store, counting the entries ``read_path`` hands back."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.read = 0
        self.listed = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "list_checkpoints":
            self.listed += 1
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
        # A manager that knows no checkpoint goes on from the one the store
        # keeps at the head, to the same value.
        counting = Counting(inner)
        fresh = manager.with_store(counting)  # not closed: it would close the store
        again = fresh.get(s.id).checkpoint()
        assert counting.read == 64 and counting.listed == 1
        assert again.checksum == point.checksum


def test_a_new_manager_goes_on_from_the_nearest_stored_checkpoint() -> None:
    inner = MemoryStore()
    writer = SessionManager(inner)  # not closed: that would close the store
    s = writer.create("bot")
    s.extend([{"role": "user", "content": f"m{i}"} for i in range(3000)])
    s.checkpoint("far")
    s.extend([{"role": "user", "content": f"n{i}"} for i in range(2000)])
    s.checkpoint("near")
    s.extend([{"role": "user", "content": f"o{i}"} for i in range(1000)])
    counting = Counting(inner)
    reader = SessionManager(counting)
    point = reader.get(s.id).checkpoint()
    # Pages of 64, 256 and 1024 from the head reach "near", 1000 up.
    assert counting.read == 64 + 256 + 1024 and counting.listed == 1
    assert point.checksum == chain_checksum(e.digest for e in reader.get(s.id).entries())
    reader.get(s.id).restore(point.id)  # verifies the whole path


def test_a_session_without_checkpoints_reads_its_path_once() -> None:
    inner = MemoryStore()
    writer = SessionManager(inner)  # not closed: that would close the store
    s = writer.create("bot")
    s.extend([{"role": "user", "content": f"m{i}"} for i in range(500)])
    counting = Counting(inner)
    point = SessionManager(counting).get(s.id).checkpoint()
    assert counting.read == 500 and counting.listed == 0
    assert point.checksum == chain_checksum(e.digest for e in s.entries())


def test_a_damaged_stored_checksum_is_not_gone_on_from_or_is_caught_at_restore() -> None:
    inner = MemoryStore()
    writer = SessionManager(inner)  # not closed: that would close the store
    s = writer.create("bot")
    s.extend([{"role": "user", "content": f"m{i}"} for i in range(1100)])
    base = s.checkpoint()
    s.append({"role": "user", "content": "last"})
    stored = inner._sessions[s.id].checkpoints[base.id]
    # Malformed: skipped, the path is hashed whole, the value is right.
    stored.checksum = "!" * 43
    good = SessionManager(inner).get(s.id).checkpoint()
    assert good.checksum == chain_checksum(e.digest for e in s.entries())
    # Well formed but wrong: the next checkpoint goes on from it, and its
    # restore reports the damage instead of hiding it.
    stored.checksum = chain_checksum(["0" * 64])
    inner._sessions[s.id].checkpoints.pop(good.id)
    bad = SessionManager(inner).get(s.id).checkpoint()
    with pytest.raises(IntegrityError):
        SessionManager(inner).get(s.id).restore(bad.id)


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
            # The oldest was dropped: its next checkpoint reads the whole
            # (short) path, rather than look for the store's checkpoints.
            assert store.read == (201 if forgotten else 64), store.read
            assert store.listed == 0
