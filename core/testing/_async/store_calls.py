"""Conformance: store methods called directly, and records never shared with callers."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._exceptions import ConflictError, InvalidInput, SessionNotFound
from ..._models import UNCHECKED, SessionExport
from .._clock import FakeClock
from .base import AsyncSuiteBase, deface, msg


class AsyncStoreCallTests(AsyncSuiteBase):
    async def test_get_entry(self, manager: AsyncSessionManager, clock: FakeClock) -> None:
        store = manager.store
        session = await manager.create("assistant", ttl=timedelta(hours=1))
        first = await session.append(msg(1))
        tool = await session.append_entry("tool_call", {"args": {"q": ["x", 1.5, None]}})
        other = await self.chat(manager, 1)
        (foreign,) = await other.messages()
        assert await store.get_entry(session.id, first.id, now=clock()) == first
        assert await store.get_entry(session.id, tool.id, now=clock()) == tool
        assert await store.get_entry(other.id, foreign.id, now=clock()) == foreign
        for entry_id in ("no-such-entry", foreign.id):
            with pytest.raises(InvalidInput):
                await store.get_entry(session.id, entry_id, now=clock())
        with pytest.raises(SessionNotFound):
            await store.get_entry("no-such-session", first.id, now=clock())
        clock.advance(timedelta(hours=1, seconds=1))
        with pytest.raises(SessionNotFound):
            await store.get_entry(session.id, first.id, now=clock())

    async def test_set_head_with_a_stale_revision(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await self.chat(manager, 3)
        first = (await session.messages())[0]
        stale = (await session.refresh()).revision
        await session.update_metadata({"moved": True})
        before = await self.snapshot(manager, session.id)
        current = before.session.revision
        for target in (first.id, None):
            for revision in (stale, current + 1):
                with pytest.raises(ConflictError):
                    await store.set_head(
                        session.id,
                        target,
                        now=clock(),
                        expires_at=None,
                        expected_revision=revision,
                    )
        assert await self.snapshot(manager, session.id) == before
        moved = await store.set_head(
            session.id, first.id, now=clock(), expires_at=None, expected_revision=current
        )
        assert moved.head == first.id and moved.message_count == 1
        assert moved.revision == current + 1

    async def test_delete_at_an_expected_revision(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await self.chat(manager, 3, ttl=timedelta(seconds=10))
        stale = (await session.refresh()).revision
        await session.append(msg("written since"))
        before = await self.snapshot(manager, session.id)
        current = before.session.revision
        for revision in (stale, current + 1):
            with pytest.raises(ConflictError):
                await store.delete_session(session.id, expected_revision=revision)
        assert await self.snapshot(manager, session.id) == before
        clock.advance(11)  # expired: still erased only at its revision
        with pytest.raises(ConflictError):
            await store.delete_session(session.id, expected_revision=stale)
        assert await store.delete_session(session.id, expected_revision=current) is True
        assert await store.delete_session(session.id, expected_revision=current) is False
        assert await store.delete_session("no-such-session", expected_revision=0) is False

    async def test_update_at_an_expected_revision(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await self.chat(manager, 2)
        await session.update_metadata({"kept": 1})
        stale = (await session.refresh()).revision
        await session.append(msg("written since"))
        before = await self.snapshot(manager, session.id)
        current = before.session.revision
        for revision in (stale, current + 1):
            with pytest.raises(ConflictError):
                await store.update_session(
                    session.id,
                    metadata={"lost": True},
                    now=clock(),
                    expires_at=None,
                    expected_revision=revision,
                )
        assert await self.snapshot(manager, session.id) == before
        row = await store.update_session(
            session.id,
            metadata={"added": [1]},
            now=clock(),
            expires_at=None,
            expected_revision=current,
        )
        assert row.metadata == {"kept": 1, "added": [1]} and row.revision == current + 1
        with pytest.raises(SessionNotFound):
            await store.update_session(
                "no-such-session", metadata={}, now=clock(), expires_at=None, expected_revision=0
            )

    async def test_import_replaces_at_an_expected_revision(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        session = await self.chat(manager, 3, user_id="alice", metadata={"k": 1})
        await session.checkpoint("three")
        other = await self.chat(manager, 1, user_id="alice")
        later = await self.chat(manager, 2)
        await later.checkpoint("two")
        await later.append(msg("after"))
        stale = (await session.refresh()).revision
        await session.append(msg("written since"))
        before = await self.snapshot(manager, session.id)
        current = before.session.revision
        # The replacement: another history under the same id, agent and owner.
        source = await self.snapshot(manager, later.id)
        row = dataclasses.replace(
            source.session,
            id=session.id,
            user_id="alice",
            agent=before.session.agent,
            revision=current + 1,
        )
        points = tuple(dataclasses.replace(c, session_id=session.id) for c in source.checkpoints)
        replacement = SessionExport(row, source.entries, points)
        for revision in (stale, current + 1):
            with pytest.raises(ConflictError):
                await store.import_session(replacement, expected_revision=revision)
        assert await self.snapshot(manager, session.id) == before
        with pytest.raises(SessionNotFound):
            await store.import_session(
                dataclasses.replace(
                    replacement, session=dataclasses.replace(row, id="no-such-session")
                ),
                expected_revision=0,
            )
        await store.import_session(replacement, expected_revision=current)
        assert await self.snapshot(manager, session.id) == replacement
        replaced = await manager.get(session.id, user_id="alice")
        assert await self.contents(replaced) == ["message 0", "message 1", "message after"]
        await replaced.restore(points[0].id)
        assert await self.contents(replaced) == ["message 0", "message 1"]
        await replaced.append(msg("on the replacement"))
        assert {r.id for r in await manager.list(user_id="alice")} == {session.id, other.id}
        assert await self.contents(other) == ["message 0"]

    async def test_prune_expired_in_batches(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock)
        doomed = [await self.chat(manager, 1, ttl=timedelta(seconds=10)) for _ in range(5)]
        kept = await self.chat(manager, 1)
        assert await store.prune_expired(now=clock(), batch=2) == 0
        clock.advance(11)
        now = clock()
        assert [await store.prune_expired(now=now, batch=2) for _ in range(4)] == [2, 2, 1, 0]
        assert [r.id for r in await manager.list()] == [kept.id]
        for session in doomed:
            assert await manager.delete(session.id) is False
        assert await self.contents(kept) == ["message 0"]

    async def test_records_are_never_shared(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        store = manager.store
        meta = {"nested": {"list": [1]}}
        session = await manager.create("assistant", user_id="alice", metadata=meta)
        handed_out: list[object] = [session.info]
        message = {"role": "user", "content": {"parts": ["a"]}}
        appended = await session.append(message)
        state = {"mood": ["calm"]}
        handed_out += [appended, session.info, await session.update_state(state), session.info]
        patch = {"more": [1]}
        await session.update_metadata(patch)
        point = await session.checkpoint("cp", {"agent": {"step": [1]}})
        handed_out += [session.info, point, session.info]
        await session.switch(appended.id)
        handed_out.append(session.info)
        for given in (meta, message, state, patch):
            deface(given)
        expected = copy.deepcopy(await self.snapshot(manager, session.id))
        assert expected.session.metadata == {"nested": {"list": [1]}, "more": [1]}
        assert [e.data for e in expected.entries] == [
            {"role": "user", "content": {"parts": ["a"]}},
            {"mood": ["calm"]},
        ]
        assert expected.checkpoints[0].metadata == {"agent": {"step": [1]}}
        sid, point_id, now = session.id, point.id, clock()
        handed_out += [
            await store.get_session(sid, now=now),
            await store.list_sessions(agent=None, user_id=UNCHECKED, limit=9, offset=0, now=now),
            await store.read_path(sid, now=now),
            await store.get_entry(sid, appended.id, now=now),
            await store.get_checkpoint(sid, point_id, now=now, with_path=True),
            await store.list_checkpoints(sid, now=now),
            await store.list_leaves(sid, now=now),
            await store.export_session(sid, now=now),
        ]
        for record in handed_out:
            deface(record)
        assert await self.snapshot(manager, sid) == expected
        fresh = await manager.get(sid)
        await fresh.restore(point_id)
        assert await fresh.state() == {"mood": ["calm"]}
