"""Conformance: appending, reading, checkpoints, restore, branches, pop, clear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._canonical import chain_checksum, checksum
from ..._exceptions import (
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    InvalidInput,
)
from ..._ids import new_id
from ..._models import Checkpoint, Entry
from ..._rules import prepare_entry
from ..._windows import approx_tokens
from .._clock import FakeClock
from .base import AsyncSuiteBase, msg


class AsyncHistoryTests(AsyncSuiteBase):
    async def test_append_chains_under_the_head(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        first = await session.append(msg(1))
        second = await session.append(msg(2, "assistant"))
        assert first.parent_id is None and first.depth == 1 and first.message_index == 1
        assert second.parent_id == first.id and second.depth == 2
        assert second.message_index == 2 and second.kind == "message"
        assert session.head == second.id and session.message_count == 2
        assert [m.data for m in await session.messages()] == [msg(1), msg(2, "assistant")]
        assert len(first.digest) == 64 and first.digest != second.digest

    async def test_parent_is_the_head_at_write_time(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        other = await manager.get(session.id)
        first = await session.append(msg(1))
        second = await other.append(msg(2))
        assert second.parent_id == first.id
        third = await session.append(msg(3))
        assert third.parent_id == second.id

    async def test_extend_is_atomic(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 2)
        before = await self.snapshot(manager, session.id)
        with pytest.raises(InvalidInput):
            await session.extend([msg(3), {"bad": float("nan")}])
        with pytest.raises(InvalidInput):
            await session.extend([msg(3), "not an object"])  # type: ignore[list-item]
        assert await self.snapshot(manager, session.id) == before
        entries = await session.extend([msg(3), msg(4), msg(5)])
        assert [e.message_index for e in entries] == [3, 4, 5]
        assert entries[0].parent_id == before.session.head
        assert await session.extend([]) == []

    async def test_expected_head_compare_and_swap(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        with pytest.raises(ConflictError):
            await session.append(msg(0), expected_head="someone-else")
        first = await session.append(msg(1), expected_head=None)
        second = await session.append(msg(2), expected_head=first.id)
        before = await self.snapshot(manager, session.id)
        for stale in (first.id, None):
            with pytest.raises(ConflictError):
                await session.append(msg("late"), expected_head=stale)
            with pytest.raises(ConflictError):
                await session.extend([msg("x"), msg("y")], expected_head=stale)
        assert await self.snapshot(manager, session.id) == before
        assert (await session.append(msg(3), expected_head=second.id)).parent_id == second.id

    async def test_custom_kinds_and_entries(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        await session.append(msg(1))
        tool = await session.append_entry("tool_call", {"name": "search", "args": {"q": "x"}})
        await session.append(msg(2))
        assert tool.kind == "tool_call" and tool.message_index == 1
        assert [m.data["content"] for m in await session.messages()] == ["message 1", "message 2"]
        assert [e.kind for e in await session.entries()] == ["message", "tool_call", "message"]
        assert session.message_count == 2
        with pytest.raises(InvalidInput):
            await session.append_entry("bad kind!", {})

    async def test_messages_limit_and_before(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        await session.extend([msg(i) for i in range(5)])
        await session.update_state({"noise": True})
        await session.extend([msg(i) for i in range(5, 10)])
        last3 = await session.messages(limit=3)
        assert [m.data["content"] for m in last3] == ["message 7", "message 8", "message 9"]
        page = await session.messages(limit=4, before=last3[0].id)
        assert [m.data["content"] for m in page] == [f"message {i}" for i in (3, 4, 5, 6)]
        assert [m.data["content"] for m in await session.messages(before=page[0].id)] == [
            "message 0",
            "message 1",
            "message 2",
        ]
        assert await session.messages(limit=0) == []
        assert len(await session.messages(limit=100)) == 10
        with pytest.raises(InvalidInput):
            await session.messages(limit=-1)
        with pytest.raises(InvalidInput):
            await session.messages(before="no-such-entry")

    async def test_state_is_merged_along_the_path(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        assert await session.state() == {}
        await session.update_state({"a": 1, "b": 1})
        await session.append(msg(1))
        await session.update_state({"b": 2, "c": [3]})
        assert await session.state() == {"a": 1, "b": 2, "c": [3]}
        assert session.message_count == 1

    async def test_checkpoints_chain_on_from_earlier_ones(
        self, manager: AsyncSessionManager
    ) -> None:
        session = await self.chat(manager, 40)
        first = await session.checkpoint("first")
        await session.extend([msg(i) for i in range(40, 70)])
        # Any session object of this manager goes on from the manager's last one.
        second = await (await manager.get(session.id)).checkpoint("second")
        third = await session.checkpoint("third")
        digests = [e.digest for e in await session.entries()]
        assert first.checksum == chain_checksum(digests[:40])
        assert second.checksum == third.checksum == chain_checksum(digests)
        assert second.checksum == chain_checksum(digests[40:], first.checksum)
        await session.restore(first.id)
        assert session.message_count == 40
        await session.restore(second.id)
        # A checkpoint in the flat form of earlier releases still verifies.
        now = manager.now()
        flat = Checkpoint(new_id(), session.id, second.entry_id, now, "flat", {}, checksum(digests))
        await manager.store.save_checkpoint(flat, now=now, expires_at=None)
        await session.restore(first.id)
        await session.restore(flat.id)
        assert session.message_count == 70
        bad = Checkpoint(new_id(), session.id, first.entry_id, now, None, {}, checksum(digests))
        await manager.store.save_checkpoint(bad, now=now, expires_at=None)
        with pytest.raises(IntegrityError):
            await session.restore(bad.id)

    async def test_checkpoint_records_head_without_an_entry(
        self, manager: AsyncSessionManager
    ) -> None:
        session = await self.chat(manager, 3)
        head = session.head
        point = await session.checkpoint("named", {"agent": {"step": 3}})
        assert point.entry_id == head and point.session_id == session.id
        assert point.name == "named" and point.metadata == {"agent": {"step": 3}}
        assert point.checksum == chain_checksum(e.digest for e in await session.entries())
        assert session.head == head and len(await session.entries()) == 3
        empty = await manager.create("assistant")
        blank = await empty.checkpoint()
        assert blank.entry_id is None and blank.name is None
        later = await session.checkpoint()
        assert [c.id for c in await session.checkpoints()] == [point.id, later.id]
        assert await empty.checkpoints() == [blank]

    async def test_restore_rolls_back_and_keeps_the_other_branch(
        self, manager: AsyncSessionManager
    ) -> None:
        session = await self.chat(manager, 2)
        await session.update_state({"mood": "calm"})
        point = await session.checkpoint("two")
        await session.extend([msg("x"), msg("y")])
        await session.update_state({"mood": "angry"})
        abandoned = session.head
        restored = await session.restore(point.id)
        assert restored == point
        assert await self.contents(session) == ["message 0", "message 1"]
        assert await session.state() == {"mood": "calm"}
        assert session.message_count == 2 and session.head == point.entry_id
        leaves = {b.leaf_id for b in await session.branches()}
        assert abandoned in leaves
        await session.append(msg("z"))
        branches = await session.branches()
        assert len(branches) == 2
        assert [b.is_current for b in branches].count(True) == 1
        current = next(b for b in branches if b.is_current)
        assert current.leaf_id == session.head and current.message_count == 3
        assert abandoned is not None
        await session.switch(abandoned)
        assert await self.contents(session) == ["message 0", "message 1", "message x", "message y"]
        assert await session.state() == {"mood": "angry"}

    async def test_restore_of_an_empty_checkpoint(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        point = await session.checkpoint()
        await session.append(msg(1))
        await session.restore(point.id)
        assert await session.messages() == [] and session.head is None

    async def test_unknown_checkpoint(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 1)
        other = await self.chat(manager, 1)
        foreign = await other.checkpoint()
        before = await self.snapshot(manager, session.id)
        for checkpoint_id in ("missing", foreign.id):
            with pytest.raises(CheckpointNotFound):
                await session.restore(checkpoint_id)
        assert await self.snapshot(manager, session.id) == before

    async def test_switch(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        entries = await session.extend([msg(i) for i in range(4)])
        await session.switch(entries[1].id)
        assert await self.contents(session) == ["message 0", "message 1"]
        assert session.message_count == 2
        other = await self.chat(manager, 1)
        before = await self.snapshot(manager, session.id)
        (foreign,) = await other.messages()
        for entry_id in ("missing", foreign.id):
            with pytest.raises(InvalidInput):
                await session.switch(entry_id)
        assert await self.snapshot(manager, session.id) == before

    async def test_token_window(self, store: AsyncStore, clock: FakeClock) -> None:
        manager, spy = self.spied(store, clock)
        session = await manager.create("assistant")
        sizes = [(n * 37) % 200 + 1 for n in range(300)]
        await session.extend([{"role": "user", "content": "x" * size} for size in sizes])
        await session.append_entry("note", {"not": "a message"})
        everything = await session.messages()

        def newest_within(budget: int, count: Callable[[Any], int]) -> list[Entry]:
            fitting: list[Entry] = []
            for entry in reversed(everything):
                budget -= count(entry.data)
                if budget < 0:
                    break
                fitting.insert(0, entry)
            return fitting

        for budget in (0, 5, 60, 400, 2_000, 10**9):
            spy.calls.clear()
            window = await session.messages(max_tokens=budget)
            assert window == newest_within(budget, approx_tokens), budget
            # A page at a time from the newest: the window's cost, not the history's.
            assert spy.calls.count("read_path") <= (6 if budget == 10**9 else 3), budget
        by_length = await session.messages(max_tokens=1_000, count=lambda m: len(m["content"]))
        assert by_length == newest_within(1_000, lambda m: len(m["content"]))
        assert len(await session.messages(limit=3, max_tokens=10**9)) == 3
        older = await session.messages(before=everything[-10].id, max_tokens=200)
        assert older and older[-1].id == everything[-11].id
        assert sum(approx_tokens(m.data) for m in older) <= 200
        for bad in (-1, 1.5, True, "10"):
            with pytest.raises(InvalidInput):
                await session.messages(max_tokens=bad)  # type: ignore[arg-type]

    async def test_compaction_makes_a_new_path(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant", max_messages=6)
        await session.extend([msg(0), msg(1)])
        await session.update_state({"mood": "calm"})
        await session.extend([msg(2), msg(3)])
        point = await session.checkpoint("before")
        await session.extend([msg(4), msg(5)])
        original = await session.entries()
        upto = original[4]  # message 3
        summary = await session.compact("they said 0 to 3", upto=upto.id)
        assert summary.parent_id is None and summary.message_index == 1
        assert summary.data["compaction"] == {
            "upto": upto.id,
            "entries": 5,
            "messages": 4,
            "from_head": original[-1].id,
        }
        view = await session.messages()
        assert [m.data.get("content") for m in view] == [
            "they said 0 to 3",
            "message 4",
            "message 5",
        ]
        assert view[0].data["role"] == "system" and view[0].id == summary.id
        assert {e.id for e in view[1:]}.isdisjoint(e.id for e in original)  # copies
        assert await session.state() == {"mood": "calm"}
        assert session.message_count == 3  # the limit counts the compacted path
        await session.extend([msg(6), msg(7), msg(8)])
        assert len(await session.branches()) == 2
        # Nothing was removed: the old path restores, and switch reaches it.
        await session.restore(point.id)
        assert await self.contents(session) == [f"message {n}" for n in range(4)]
        await session.switch(original[-1].id)
        assert await session.entries() == original
        with pytest.raises(InvalidInput):
            await session.compact("no", upto="not-on-the-path")
        with pytest.raises(InvalidInput):
            await session.compact(["not", "a message"], upto=upto.id)  # type: ignore[arg-type]

    async def test_replace_messages_is_one_write(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 3)
        old = await session.entries()
        stale = session.head
        revision = session.revision
        placed = await session.replace_messages([msg("a"), msg("b")])
        assert [e.parent_id for e in placed] == [None, placed[0].id]
        assert await self.contents(session) == ["message a", "message b"]
        assert session.revision == revision + 1 and session.message_count == 2
        with pytest.raises(ConflictError):
            await session.replace_messages([msg("late")], expected_head=stale)
        assert await self.contents(session) == ["message a", "message b"]
        assert await session.replace_messages([], expected_head=session.head) == []
        assert await session.messages() == [] and session.head is None
        await session.switch(old[-1].id)
        assert await session.entries() == old

    async def test_a_new_root_append_is_a_compare_and_swap(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await self.chat(manager, 2)
        stale = session.head
        await session.append(msg("written since"))
        before = await self.snapshot(manager, session.id)
        with pytest.raises(ConflictError):
            await store.append(
                session.id,
                [prepare_entry("message", msg("x"), clock(), None)],
                now=clock(),
                expires_at=None,
                expected_head=stale,
                new_root=True,
            )
        assert await self.snapshot(manager, session.id) == before
        row, (root,) = await store.append(
            session.id,
            [prepare_entry("message", msg("root"), clock(), None)],
            now=clock(),
            expires_at=None,
            expected_head=before.session.head,
            new_root=True,
        )
        assert root.parent_id is None and root.depth == 1 and root.message_index == 1
        assert row.head == root.id and row.message_count == 1
        assert len(await (await manager.get(session.id)).branches()) == 2

    async def test_entries_keep_their_path_checksum(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await manager.create("assistant")
        seen = [await session.append(msg(0))]
        seen += await session.extend([msg(1), msg(2)])
        point = await session.checkpoint()
        seen += await session.extend([msg(3), msg(4)])
        await session.restore(point.id)
        seen += await session.extend([msg("fork a"), msg("fork b")])  # a branch under 2
        seen.append(await session.compact("a summary", upto=seen[2].id))  # a new root
        seen += await session.extend([msg(5)])
        _, leaves = await store.list_leaves(session.id, now=clock())
        seen += leaves
        for leaf in leaves:
            await session.switch(leaf.id)
            seen += await session.entries()
            _, head = await store.read_path(session.id, now=clock(), limit=1, with_data=False)
            seen += head
        seen += (await store.get_checkpoint(session.id, point.id, now=clock(), with_path=True))[1]
        seen += [await store.get_entry(session.id, e.id, now=clock()) for e in leaves]
        self.check_path_checksums(seen)
        export = await manager.export_session(session.id)
        await manager.delete(session.id)
        await manager.import_session(export)  # an import computes them afresh
        moved = await manager.get(session.id)
        # A sealed store seals the records again: digests (and so checksums)
        # may differ from the first copy's, and are checked on their own.
        again: list[Entry] = []
        for leaf in leaves:
            await moved.switch(leaf.id)
            again += await moved.entries()
        self.check_path_checksums(again)
        # What a checkpoint records, read from the head: the same value.
        tip = {e.id: e for e in again}[moved.head or ""]
        assert (await moved.checkpoint()).checksum == tip.checksum or not self.path_checksums

    def check_path_checksums(self, seen: list[Entry]) -> None:
        """Each of ``seen`` carries the chained checksum of its path (found
        among ``seen``), or, where the store keeps none, ``None``."""
        by_id = {e.id: e for e in seen}

        def path_checksum(entry: Entry) -> str:
            digests: list[str] = []
            at: Entry | None = entry
            while at is not None:
                digests.append(at.digest)
                at = by_id[at.parent_id] if at.parent_id is not None else None
            return chain_checksum(reversed(digests))

        for entry in seen:
            if self.path_checksums or entry.checksum is not None:
                assert entry.checksum == path_checksum(entry), entry

    async def test_pop_is_non_destructive(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        assert await session.pop() is None
        await session.extend([msg(1), msg(2)])
        await session.update_state({"after": "two"})
        popped = await session.pop()
        assert popped is not None and popped.data == msg(2)
        assert await self.contents(session) == ["message 1"]
        assert session.message_count == 1
        leaf = next(iter(await session.branches())).leaf_id
        await session.switch(leaf)
        assert await self.contents(session) == ["message 1", "message 2"]

    async def test_clear_is_a_fresh_start(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 3)
        old_leaf = session.head
        await session.clear()
        assert session.head is None and session.message_count == 0
        assert await session.messages() == [] and await session.state() == {}
        first = await session.append(msg("new"))
        assert first.parent_id is None and first.depth == 1
        assert {b.leaf_id for b in await session.branches()} == {old_leaf, first.id}

    async def test_integrity_first_entry_altered(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 3)
        point = await session.checkpoint()
        await session.append(msg("more"))
        first = (await session.entries())[0]
        self.tamper_entry(manager.store, session.id, first.id, {"role": "user", "content": "x"})
        before_head = session.head
        with pytest.raises(IntegrityError):
            await session.restore(point.id)
        assert (await session.refresh()).head == before_head

    async def test_integrity_checkpoint_entry_altered(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 2)
        point = await session.checkpoint()
        assert point.entry_id is not None
        self.tamper_entry(manager.store, session.id, point.entry_id, {"injected": True})
        with pytest.raises(IntegrityError):
            await session.restore(point.id)
