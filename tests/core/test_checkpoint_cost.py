"""A checkpoint reads one entry on a store that keeps path checksums, and on
one that does not, hashes only what was added since the nearest earlier
checkpoint on its path (the last its manager took or verified, else one the
store keeps), whatever the history: counted in entries read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agentsession import IntegrityError, Session, SessionManager
from agentsession._canonical import chain_checksum
from agentsession._sync import manager as sync_manager
from agentsession.stores import MemoryStore


class Counting:
    """The real memory store, counting the entries ``read_path`` hands back;
    unless ``keeps_checksums``, without their path checksums, as a store of
    another release would hand them."""

    def __init__(self, inner: MemoryStore, *, keeps_checksums: bool = False) -> None:
        self.inner = inner
        self.keeps = keeps_checksums
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
            return info, path if self.keeps else [replace(e, checksum=None) for e in path]

        return read_path


def written(messages: int) -> tuple[MemoryStore, SessionManager, Session]:
    """A memory store, a manager over it (not closed: that would close the
    store) and a session of ``messages`` messages."""
    inner = MemoryStore()
    writer = SessionManager(inner)
    s = writer.create("bot")
    s.extend([{"role": "user", "content": f"m{i}"} for i in range(messages)])
    return inner, writer, s


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
            assert store.read <= 1 + 64
        digests = [e.digest for e in s.entries()]
        assert point.checksum == chain_checksum(digests) and len(digests) == 5030
        s.restore(point.id)
        # A manager that knows no checkpoint goes on from the one the store
        # keeps at the head, to the same value.
        counting = Counting(inner)
        fresh = manager.with_store(counting)  # not closed: it would close the store
        again = fresh.get(s.id).checkpoint()
        assert counting.read == 1 + 64 and counting.listed == 1
        assert again.checksum == point.checksum


def test_a_new_manager_goes_on_from_the_nearest_stored_checkpoint() -> None:
    inner, _writer, s = written(3000)
    s.checkpoint("far")
    s.extend([{"role": "user", "content": f"n{i}"} for i in range(2000)])
    s.checkpoint("near")
    s.extend([{"role": "user", "content": f"o{i}"} for i in range(1000)])
    counting = Counting(inner)
    reader = SessionManager(counting)
    point = reader.get(s.id).checkpoint()
    # Pages of 64, 256 and 1024 from the head reach "near", 1000 up.
    assert counting.read == 1 + 64 + 256 + 1024 and counting.listed == 1
    assert point.checksum == chain_checksum(e.digest for e in reader.get(s.id).entries())
    reader.get(s.id).restore(point.id)  # verifies the whole path


def test_a_session_without_checkpoints_reads_its_path_once() -> None:
    inner, _writer, s = written(500)
    counting = Counting(inner)
    point = SessionManager(counting).get(s.id).checkpoint()
    assert counting.read == 1 + 500 and counting.listed == 0
    assert point.checksum == chain_checksum(e.digest for e in s.entries())


def test_a_damaged_stored_checksum_is_not_gone_on_from_or_is_caught_at_restore() -> None:
    inner, _writer, s = written(1100)
    base = s.checkpoint()
    s.append({"role": "user", "content": "last"})
    stored = inner._sessions[s.id].checkpoints[base.id]
    # Malformed: skipped, the path is hashed whole, the value is right.
    stored.checksum = "!" * 43
    good = SessionManager(Counting(inner)).get(s.id).checkpoint()
    assert good.checksum == chain_checksum(e.digest for e in s.entries())
    # Well formed but wrong: the next checkpoint goes on from it, and its
    # restore reports the damage instead of hiding it.
    stored.checksum = chain_checksum(["0" * 64])
    inner._sessions[s.id].checkpoints.pop(good.id)
    bad = SessionManager(Counting(inner)).get(s.id).checkpoint()
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
            assert store.read == 1 + (201 if forgotten else 64), store.read
            assert store.listed == 0


@pytest.mark.parametrize("history", [10, 1000, 9000])
def test_a_store_that_keeps_path_checksums_is_read_for_the_head_only(history: int) -> None:
    inner, writer, s = written(history)
    counting = Counting(inner, keeps_checksums=True)
    point = SessionManager(counting).get(s.id).checkpoint()  # knows no checkpoint
    assert counting.read == 1 and counting.listed == 0
    assert point.checksum == chain_checksum(e.digest for e in s.entries())
    writer.get(s.id).restore(point.id)  # verifies the whole path


def test_a_damaged_entry_checksum_is_not_used_or_is_caught_at_restore() -> None:
    inner, _writer, s = written(100)
    head, _ = inner._sessions[s.id].entries[s.head or ""]
    right = head.checksum
    assert right == chain_checksum(e.digest for e in s.entries())
    # Malformed: not used, the path is hashed, the value is right.
    head.checksum = "not a checksum"
    assert SessionManager(inner).get(s.id).checkpoint().checksum == right
    # Well formed but wrong: recorded, and its restore reports the damage.
    head.checksum = chain_checksum(["0" * 64])
    bad = SessionManager(inner).get(s.id).checkpoint()
    with pytest.raises(IntegrityError):
        SessionManager(inner).get(s.id).restore(bad.id)
