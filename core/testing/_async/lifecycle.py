"""Conformance: creating, finding, listing, deleting and moving sessions."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._exceptions import AccessDenied, ConflictError, InvalidInput, SessionNotFound
from ..._models import UNCHECKED
from .._clock import FakeClock
from .base import AsyncSuiteBase, msg


class AsyncLifecycleTests(AsyncSuiteBase):
    async def test_create_then_get(self, manager: AsyncSessionManager) -> None:
        created = await manager.create("assistant", user_id="alice", metadata={"topic": "x"})
        found = await manager.get(created.id)
        assert found.info == created.info
        assert found.agent == "assistant"
        assert found.user_id == "alice"
        assert found.metadata == {"topic": "x"}
        assert found.head is None
        assert found.message_count == 0
        assert found.revision == 0
        assert found.expires_at is None
        assert found.created_at.tzinfo is not None
        assert found.created_at.utcoffset() == timedelta(0)
        assert found.created_at.astimezone(UTC) == found.updated_at.astimezone(UTC)

    async def test_create_with_taken_id_conflicts(self, manager: AsyncSessionManager) -> None:
        first = await manager.create("assistant", session_id="chosen-id_1")
        await first.append(msg(1))
        before = await self.snapshot(manager, "chosen-id_1")
        with pytest.raises(ConflictError):
            await manager.create("other", session_id="chosen-id_1")
        assert await self.snapshot(manager, "chosen-id_1") == before

    async def test_generated_ids_are_distinct_tokens(self, manager: AsyncSessionManager) -> None:
        ids = {(await manager.create("assistant")).id for _ in range(20)}
        assert len(ids) == 20
        assert all(len(i) >= 22 for i in ids)

    async def test_owner_rules_of_get(self, manager: AsyncSessionManager) -> None:
        owned = await manager.create("assistant", user_id="alice")
        anonymous = await manager.create("assistant")
        assert (await manager.get(owned.id)).id == owned.id
        assert (await manager.get(owned.id, user_id=UNCHECKED)).id == owned.id
        assert (await manager.get(owned.id, user_id="alice")).id == owned.id
        assert (await manager.get(anonymous.id, user_id=None)).id == anonymous.id
        for sid, caller in ((owned.id, "bob"), (owned.id, None), (anonymous.id, "alice")):
            with pytest.raises(AccessDenied) as denied:
                await manager.get(sid, user_id=caller)
            with pytest.raises(SessionNotFound) as missing:
                await manager.get("no-such-session", user_id=caller)
            assert isinstance(denied.value, SessionNotFound)
            assert str(denied.value) == str(missing.value)

    async def test_unknown_session_is_not_access_denied(self, manager: AsyncSessionManager) -> None:
        with pytest.raises(SessionNotFound) as info:
            await manager.get("unknown", user_id="alice")
        assert not isinstance(info.value, AccessDenied)

    async def test_get_or_create(self, manager: AsyncSessionManager, clock: FakeClock) -> None:
        older = await manager.create("assistant", user_id="alice")
        newer = await manager.create("assistant", user_id="alice")
        await manager.create("other-agent", user_id="alice")
        clock.advance(1)
        await older.append(msg("touch"))
        assert (await manager.get_or_create("assistant", "alice")).id == older.id
        fresh = await manager.get_or_create("assistant", "carol")
        assert fresh.user_id == "carol" and fresh.id not in {older.id, newer.id}
        a = await manager.get_or_create("assistant", None)
        b = await manager.get_or_create("assistant", None)
        assert a.id != b.id and a.user_id is None

    async def test_list_order_and_filters(
        self, manager: AsyncSessionManager, clock: FakeClock
    ) -> None:
        made = []
        for n, (agent, user) in enumerate(
            [("a", "alice"), ("a", "bob"), ("b", "alice"), ("a", None), ("a", "alice")]
        ):
            clock.advance(1)
            made.append(await manager.create(agent, user_id=user, metadata={"n": n}))
        clock.advance(1)
        await made[0].append(msg(0))
        rows = await manager.list()
        assert [r.id for r in rows] == [made[i].id for i in (0, 4, 3, 2, 1)]
        assert [r.id for r in await manager.list("a", user_id="alice")] == [
            made[0].id,
            made[4].id,
        ]
        assert [r.id for r in await manager.list("a", user_id=None)] == [made[3].id]
        assert [r.id for r in await manager.list(user_id="alice")] == [
            made[i].id for i in (0, 4, 2)
        ]
        assert [r.id for r in await manager.list(limit=2, offset=1)] == [made[4].id, made[3].id]
        assert await manager.list("nobody") == []
        assert rows[0].message_count == 1 and rows[0].metadata == {"n": 0}

    async def test_list_ties_broken_by_id(self, store: AsyncStore) -> None:
        manager = self.manager_with(store, FakeClock(tick=False))
        ids = [(await manager.create("tie")).id for _ in range(5)]
        assert [r.id for r in await manager.list("tie")] == sorted(ids, reverse=True)

    async def test_list_rejects_bad_arguments(self, manager: AsyncSessionManager) -> None:
        for kwargs in ({"limit": -1}, {"offset": -2}, {"user_id": "x" * 300}):
            with pytest.raises(InvalidInput):
                await manager.list(**kwargs)
        with pytest.raises(InvalidInput):
            await manager.list("bad/agent")

    async def test_delete(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 3, user_id="alice")
        await session.checkpoint("c")
        keep = await self.chat(manager, 2)
        assert await manager.delete(session.id) is True
        assert await manager.delete(session.id) is False
        with pytest.raises(SessionNotFound):
            await manager.get(session.id)
        with pytest.raises(SessionNotFound):
            await session.messages()
        with pytest.raises(SessionNotFound):
            await session.append(msg("after delete"))
        assert [r.id for r in await manager.list()] == [keep.id]
        assert await self.contents(keep) == ["message 0", "message 1"]

    async def test_update_metadata_and_refresh(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant", metadata={"a": 1, "b": 2})
        other = await manager.get(session.id)
        await other.update_metadata({"b": 3, "c": {"deep": [1, 2]}})
        assert session.metadata == {"a": 1, "b": 2}
        info = await session.refresh()
        assert info.metadata == {"a": 1, "b": 3, "c": {"deep": [1, 2]}}
        assert session.revision == 1
        with pytest.raises(InvalidInput):
            await session.update_metadata({"bad": {1, 2}})
        assert (await session.refresh()).revision == 1

    async def test_revision_counts_every_mutation(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        first = await session.append(msg(1))
        await session.extend([msg(2), msg(3)])
        await session.update_state({"k": 1})
        point = await session.checkpoint()
        await session.switch(first.id)
        await session.restore(point.id)
        await session.pop()
        await session.clear()
        await session.update_metadata({"m": 1})
        assert (await session.refresh()).revision == 9
        await session.messages()
        await session.entries()
        await session.branches()
        assert (await session.refresh()).revision == 9

    async def test_rotate_id(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 2)
        point = await session.checkpoint("before")
        old_id = session.id
        rotated = await manager.rotate_id(old_id, user_id="alice")
        assert rotated.id != old_id and rotated.user_id == "alice"
        with pytest.raises(SessionNotFound):
            await manager.get(old_id)
        assert await self.contents(rotated) == ["message 0", "message 1"]
        assert [c.id for c in await rotated.checkpoints()] == [point.id]
        await rotated.append(msg(2))
        await rotated.restore(point.id)
        assert await self.contents(rotated) == ["message 0", "message 1"]
        assert [r.id for r in await manager.list(user_id="alice")] == [rotated.id]
        # The previous owner's listing no longer has it, under either id.
        assert await manager.list(user_id=None) == []

    async def test_export_import_round_trip(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 3, user_id="alice", metadata={"k": "v"})
        point = await session.checkpoint("cp", {"agent_state": [1, 2]})
        await session.append(msg("branch"))
        await session.restore(point.id)
        await session.append(msg("other branch"))
        exported = await manager.export_session(session.id)
        assert await manager.delete(session.id)
        imported = await manager.import_session(exported)
        assert await self.snapshot(manager, imported.id) == exported
        assert len(await imported.branches()) == 2
        with pytest.raises(ConflictError):
            await manager.import_session(exported)
