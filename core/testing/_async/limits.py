"""Conformance: expiry, limits, bad input, closed stores and concurrent writers."""

from __future__ import annotations

import asyncio  # unasync: remove
import math
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._async.session import AsyncSession
from ..._exceptions import (
    AgentSessionError,
    CheckpointNotFound,
    InvalidInput,
    LimitExceeded,
    SessionNotFound,
    StoreClosed,
)
from .._chains import assert_one_chain
from .._clock import FakeClock
from .._sync._workers import run_workers as run_threads  # unasync: remove
from ._workers import run_workers
from .base import AsyncSuiteBase, msg
from .recording import AsyncRecordingStore

BAD_IDS = ["../x", "a/b", "", "x" * 10_000, "{tag}", "a b", "é", "x\x00y"]


class AsyncLimitTests(AsyncSuiteBase):
    async def test_ttl_is_absolute(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock, ttl=timedelta(hours=1))
        session = await manager.create("assistant")
        forever = await manager.create("assistant", ttl=None)
        assert session.expires_at == session.created_at + timedelta(hours=1)
        clock.advance(timedelta(minutes=50))
        await session.append(msg(1))
        assert session.expires_at == session.created_at + timedelta(hours=1)
        clock.advance(timedelta(minutes=11))
        with pytest.raises(SessionNotFound):
            await manager.get(session.id)
        with pytest.raises(SessionNotFound):
            await session.messages()
        assert [r.id for r in await manager.list()] == [forever.id]
        assert (await manager.get(forever.id)).expires_at is None

    async def test_idle_timeout_renewed_by_writes_only(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        manager = self.manager_with(store, clock, idle_timeout=timedelta(minutes=10))
        session = await manager.create("assistant")
        for _ in range(3):
            clock.advance(timedelta(minutes=9))
            await session.append(msg("keepalive"))
        clock.advance(timedelta(minutes=9))
        await session.messages()
        await manager.get(session.id)
        await manager.list()
        clock.advance(timedelta(minutes=2))
        with pytest.raises(SessionNotFound):
            await manager.get(session.id)

    async def test_idle_timeout_capped_by_ttl(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(
            store, clock, ttl=timedelta(minutes=15), idle_timeout=timedelta(minutes=10)
        )
        session = await manager.create("assistant")
        clock.advance(timedelta(minutes=9))
        await session.append(msg(1))
        assert session.expires_at == session.created_at + timedelta(minutes=15)

    async def test_expired_id_can_be_reused(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock, ttl=timedelta(seconds=5))
        await manager.create("assistant", session_id="reused")
        clock.advance(6)
        again = await manager.create("assistant", session_id="reused", ttl=None)
        assert await again.messages() == []

    async def test_prune(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock)
        doomed = [await self.chat(manager, 2, ttl=timedelta(seconds=10)) for _ in range(5)]
        kept = await self.chat(manager, 2)
        await doomed[0].checkpoint()
        clock.advance(11)
        assert await manager.prune(batch=2) == 5
        assert await manager.prune() == 0
        assert [r.id for r in await manager.list()] == [kept.id]
        assert await self.contents(kept) == ["message 0", "message 1"]
        for session in doomed:
            assert await manager.delete(session.id) is False

    async def test_prune_older_than(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock)
        old = [await self.chat(manager, 1) for _ in range(4)]
        clock.advance(3600)
        recent = await self.chat(manager, 1)
        touched = old[0]
        await touched.append(msg("still in use"))
        week = timedelta(minutes=30)
        assert await manager.prune(older_than=week, dry_run=True) == 3
        assert len(await manager.list()) == 5  # a dry run erases nothing
        assert await manager.prune(older_than=week, batch=2) == 3
        assert {r.id for r in await manager.list()} == {recent.id, touched.id}
        assert await manager.prune(older_than=week) == 0

    async def test_prune_keeps_the_newest_per_user_and_agent(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        manager = self.manager_with(store, clock)
        made: list[tuple[str | None, str, str]] = []  # in the order written
        for n in range(12):
            user = None if n % 4 == 0 else f"u{n % 2}"
            session = await manager.create("b" if n % 3 == 0 else "a", user_id=user)
            await session.append(msg(n))
            made.append((user, session.agent, session.id))
            clock.advance(1)
        kept = set()
        for owner in {user for user, _, _ in made}:
            ids = [i for user, _, i in made if user == owner]
            kept |= set(ids if owner is None else ids[-2:])  # anonymous: each alone
        assert len(kept) == 7
        assert await manager.prune(keep_newest=2, dry_run=True) == 5
        assert await manager.prune(keep_newest=2, batch=3) == 5
        assert {r.id for r in await manager.list(limit=100)} == kept
        # Agent b's 3 sessions left: keep its newest; then one per agent.
        assert await manager.prune(keep_newest=1, per="agent", agent="b") == 2
        assert await manager.prune(keep_newest=1, per="agent") == 3
        newest = {agent: i for _, agent, i in made if i in kept}  # the last of each
        assert {r.id for r in await manager.list(limit=100)} == set(newest.values())

    async def test_prune_refuses_bad_policies(self, manager: AsyncSessionManager) -> None:
        for bad in (
            {"older_than": timedelta(0)},
            {"keep_newest": 0},
            {"keep_newest": True},
            {"per": "team"},
            {"batch": 0},
        ):
            with pytest.raises(InvalidInput):
                await manager.prune(**bad)

    async def test_max_messages(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock, max_messages=3)
        session = await self.chat(manager, 2)
        before = await self.snapshot(manager, session.id)
        with pytest.raises(LimitExceeded):
            await session.extend([msg(3), msg(4)])
        assert await self.snapshot(manager, session.id) == before
        await session.append(msg(3))
        await session.update_state({"still": "allowed"})
        with pytest.raises(LimitExceeded):
            await session.append(msg(4))
        await session.pop()
        await session.append(msg("replacement"))
        unlimited = await manager.create("assistant", max_messages=None)
        await unlimited.extend([msg(i) for i in range(5)])

    async def test_checkpoint_every(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock, checkpoint_every=timedelta(minutes=5))
        session = await manager.create("assistant")
        await session.append(msg(1))
        assert await session.checkpoints() == []
        clock.advance(timedelta(minutes=6))
        second = await session.append(msg(2))
        (auto,) = await session.checkpoints()
        assert auto.entry_id == second.id
        await session.append(msg(3))
        assert len(await session.checkpoints()) == 1

    async def test_bad_ids_are_refused_before_the_store(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        manager, spy = self.spied(store, clock)
        session = await self.chat(manager, 2)
        before = await self.snapshot(manager, session.id)
        count = len(await manager.list())
        for bad in BAD_IDS:
            await self._refused_unseen(spy, self._calls_with_id(manager, session, bad))
        bad_users = ["", "u" * 257, "nul\x00", "lone \ud800"]
        for user in bad_users:
            await self._refused_unseen(spy, self._calls_with_user(manager, session.id, user))
        assert await self.snapshot(manager, session.id) == before
        assert len(await manager.list()) == count

    @staticmethod
    async def _refused_unseen(spy: AsyncRecordingStore, calls: list[Callable[[], Any]]) -> None:
        """Each call raises ``InvalidInput`` without a single call to the store."""
        for call in calls:
            spy.calls.clear()
            with pytest.raises(InvalidInput):
                await call()
            assert spy.calls == [], f"bad input reached the store: {spy.calls}"

    @staticmethod
    def _calls_with_id(
        manager: AsyncSessionManager, session: AsyncSession, bad: str
    ) -> list[Callable[[], Any]]:
        return [
            lambda: manager.get(bad),
            lambda: manager.delete(bad),
            lambda: manager.create(bad),
            lambda: manager.create("assistant", session_id=bad),
            lambda: manager.get_or_create(bad, "alice"),
            lambda: manager.list(bad),
            lambda: manager.rotate_id(bad),
            lambda: manager.export_session(bad),
            lambda: session.switch(bad),
            lambda: session.restore(bad),
            lambda: session.messages(before=bad),
            lambda: session.append(msg(1), expected_head=bad),
            lambda: session.append_entry(bad, {}),
        ]

    @staticmethod
    def _calls_with_user(
        manager: AsyncSessionManager, session_id: str, bad: str
    ) -> list[Callable[[], Any]]:
        return [
            lambda: manager.create("assistant", user_id=bad),
            lambda: manager.get(session_id, user_id=bad),
            lambda: manager.get_or_create("assistant", bad),
            lambda: manager.list(user_id=bad),
            lambda: manager.rotate_id(session_id, user_id=bad),
        ]

    async def test_bad_data_is_refused(self, store: AsyncStore, clock: FakeClock) -> None:
        manager, spy = self.spied(store, clock)
        session = await self.chat(manager, 1)
        before = await self.snapshot(manager, session.id)
        bad_messages: list[Any] = [
            {"content": {1, 2}},
            {"content": math.nan},
            {"content": math.inf},
            {"content": "nul\x00inside"},
            {"content": "lone \ud800 surrogate"},
            {"nul\x00key": 1},
            {1: "int key"},
            {"content": ("tuple",)},
            {"content": b"bytes"},
            {"content": object()},
            ["not", "an", "object"],
            "text",
            None,
        ]
        calls: list[Callable[[], Any]] = []
        for bad in bad_messages:
            calls.append(partial(session.append, bad))
            if bad is not None:  # None is "no metadata" / "no change"
                calls += [
                    partial(session.update_state, bad),
                    partial(session.update_metadata, bad),
                    partial(manager.create, "assistant", metadata=bad),
                    partial(session.checkpoint, metadata=bad),
                ]
        bad_names: list[Any] = ["nul\x00inside", "lone \ud800 surrogate", "n" * 257, 5, b"x"]
        calls += [partial(session.checkpoint, name=name) for name in bad_names]
        await self._refused_unseen(spy, calls)
        assert await self.snapshot(manager, session.id) == before

    async def test_oversized_entry(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock, max_entry_bytes=10_000)
        session = await self.chat(manager, 1)
        before = await self.snapshot(manager, session.id)
        with pytest.raises(LimitExceeded):
            await session.append({"content": "x" * 10_001})
        with pytest.raises(LimitExceeded):
            await session.append({"content": "é" * 5_000})
        assert await self.snapshot(manager, session.id) == before
        await session.append({"content": "x" * 9_000})

    async def test_large_entry_round_trips(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        big = {"role": "tool", "content": 'ü\n"{}\\' * 400_000}
        await session.append(big)
        assert (await session.messages())[0].data == big

    async def test_unicode_and_numbers_round_trip(self, manager: AsyncSessionManager) -> None:
        session = await manager.create("assistant")
        data = {
            "text": 'héllo \u2028 \U0001f600 "quoted" \\ back',
            "ints": [0, -1, 2**53 + 1, 10**30],
            "floats": [1.5, -0.0, 1e-300, 1.0],
            "nested": {"z": None, "a": [True, False, {}]},
        }
        point = await session.checkpoint()
        entry = await session.append(data)
        assert (await session.messages())[0].data == data
        await session.restore(point.id)
        await session.switch(entry.id)
        second = await session.checkpoint()
        await session.restore(second.id)

    async def test_closed_store(self, store: AsyncStore, clock: FakeClock) -> None:
        manager = self.manager_with(store, clock)
        session = await self.chat(manager, 1)
        await manager.close()
        await manager.close()
        with pytest.raises(StoreClosed):
            await manager.get(session.id)
        with pytest.raises(StoreClosed):
            await session.append(msg(2))
        with pytest.raises(StoreClosed):
            await store.get_session(session.id, now=clock())

    async def test_closed_session_object(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 1)
        async with await manager.get(session.id) as scoped:
            assert len(await scoped.messages()) == 1
        with pytest.raises(StoreClosed):
            await scoped.messages()
        assert len(await session.messages()) == 1

    async def test_errors_share_one_base(self, manager: AsyncSessionManager) -> None:
        session = await self.chat(manager, 1)
        with pytest.raises(AgentSessionError):
            await manager.get("missing")
        with pytest.raises(CheckpointNotFound):
            await session.restore("missing")

    # unasync: remove-begin
    async def test_appends_from_threads_with_their_own_loops(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        """Tasks on one loop only interleave where a store awaits (the memory
        store never does): threads, each running its own loop, really race."""
        if not self.shared_across_loops:
            pytest.skip(
                "capability 'shared_across_loops' is off: set it on the test class if"
                " one store object may serve several event loops (threads) at once"
            )
        manager = self.manager_with(store, clock)
        session = await manager.create("assistant")

        def work(worker: int) -> None:
            async def appends() -> None:
                mine = await manager.get(session.id)
                for n in range(500):
                    await mine.append(msg(f"{worker}-{n}"))

            asyncio.run(appends())

        await asyncio.to_thread(run_threads, 4, work)
        await self._assert_every_append_chained(session)

    # unasync: remove-end
    async def test_concurrent_appends_form_one_chain(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        if not self.thread_safe:
            pytest.skip("capability 'thread_safe' is off for this store")
        manager = self.manager_with(store, clock)
        session = await manager.create("assistant")

        async def work(worker: int) -> None:
            mine = await manager.get(session.id)
            for n in range(500):
                await mine.append(msg(f"{worker}-{n}"))

        await run_workers(4, work)
        await self._assert_every_append_chained(session)

    async def _assert_every_append_chained(self, session: AsyncSession) -> None:
        """4 workers x 500 appends made one chain of 2000, none lost or doubled."""
        path = await session.messages()
        assert_one_chain(path, 2000)
        assert {m.data["content"] for m in path} == {
            f"message {w}-{n}" for w in range(4) for n in range(500)
        }
        assert (await session.refresh()).message_count == 2000
