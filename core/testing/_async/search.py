"""Conformance: full-text search over a user's messages, with the owner rules.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

An encrypted store cannot search: there every test checks that the refusal
is ``SearchUnavailable`` and that nothing else is said.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._async.sealed import AsyncSealedStore
from ..._exceptions import InvalidInput, SearchUnavailable
from ..._models import UNCHECKED, SearchHit, Unchecked
from .._clock import FakeClock
from .base import AsyncSuiteBase


def _said(text: str, role: str = "user") -> dict[str, str]:
    return {"role": role, "content": text}


class AsyncSearchTests(AsyncSuiteBase):
    @staticmethod
    def _encrypted(store: AsyncStore) -> bool:
        return isinstance(store, AsyncSealedStore) and store.keys is not None

    async def _search(
        self,
        manager: AsyncSessionManager,
        query: str,
        user_id: str | Unchecked | None,
        **options: object,
    ) -> list[SearchHit] | None:
        """The hits, or ``None`` once an encrypted store has refused."""
        if self._encrypted(manager.store):
            with pytest.raises(SearchUnavailable):
                await manager.search(query, user_id=user_id, **options)  # type: ignore[arg-type]
            return None
        return await manager.search(query, user_id=user_id, **options)  # type: ignore[arg-type]

    async def test_search_needs_every_word_and_ranks_the_best_first(
        self, manager: AsyncSessionManager
    ) -> None:
        s = await manager.create("assistant", user_id="alice")
        await s.extend(
            [
                _said("the orchard grows apples and pears and many other fruit in autumn"),
                _said("apples only, nothing else"),
                _said("Orchard apples, orchard apples!", role="assistant"),
                {"role": "tool", "output": "orchard apples in a tool output"},
            ]
        )
        await s.update_state({"note": "orchard apples in the state"})
        entries = {e.id: e for e in await s.messages()}
        hits = await self._search(manager, "ORCHARD apples", "alice")
        if hits is None:
            return
        assert [entries[h.entry_id].data["content"] for h in hits] == [
            "Orchard apples, orchard apples!",
            "the orchard grows apples and pears and many other fruit in autumn",
        ]
        assert all(h.session_id == s.id for h in hits)
        assert hits[0].rank > hits[1].rank
        assert hits[0].role == "assistant"
        assert hits[0].created_at == entries[hits[0].entry_id].created_at
        assert "orchard" in hits[1].snippet.lower()
        assert await self._search(manager, "orchard quinces", "alice") == []

    async def test_search_keeps_to_the_owner(self, manager: AsyncSessionManager) -> None:
        mine = await manager.create("assistant", user_id="alice")
        theirs = await manager.create("assistant", user_id="bob")
        other_agent = await manager.create("planner", user_id="alice")
        anonymous = await manager.create("assistant")
        for session in (mine, theirs, other_agent, anonymous):
            await session.append(_said(f"the secret word is zebra, said {session.id}"))

        async def found(user_id: str | Unchecked | None, agent: str | None = None) -> set[str]:
            hits = await self._search(manager, "zebra", user_id, agent=agent)
            return set() if hits is None else {h.session_id for h in hits}

        if self._encrypted(manager.store):
            await found("alice")
            return
        assert await found("alice") == {mine.id, other_agent.id}
        assert await found("alice", "assistant") == {mine.id}
        assert await found("bob") == {theirs.id}
        assert await found(None) == {anonymous.id}
        assert await found("mallory") == set()
        assert await found(UNCHECKED) == {mine.id, theirs.id, other_agent.id, anonymous.id}
        # Claimed at login: the anonymous session is bob's now, under a new id.
        claimed = await manager.rotate_id(anonymous.id, user_id="bob")
        assert await found(None) == set()
        assert await found("bob") == {theirs.id, claimed.id}
        assert await found("alice") == {mine.id, other_agent.id}

    async def test_search_skips_expired_and_deleted_sessions(
        self, store: AsyncStore, clock: FakeClock
    ) -> None:
        manager = self.manager_with(store, clock)
        brief = await manager.create("assistant", user_id="alice", ttl=timedelta(hours=1))
        kept = await manager.create("assistant", user_id="alice")
        doomed = await manager.create("assistant", user_id="alice")
        for session in (brief, kept, doomed):
            await session.append(_said("walrus sightings"))
        await manager.delete(doomed.id)
        clock.advance(timedelta(hours=2))
        hits = await self._search(manager, "walrus", "alice")
        if hits is not None:
            assert [h.session_id for h in hits] == [kept.id]

    async def test_search_reaches_every_branch_and_collapses_copies(
        self, manager: AsyncSessionManager
    ) -> None:
        s = await manager.create("assistant", user_id="alice")
        await s.extend([_said(f"turn {n} about lighthouses") for n in range(4)])
        point = await s.checkpoint("before")
        await s.append(_said("a lighthouses detour"))
        await s.restore(point.id)
        path = await s.messages()
        await s.compact({"role": "system", "content": "summary: lighthouses"}, upto=path[1].id)
        hits = await self._search(manager, "lighthouses", "alice", limit=100)
        if hits is None:
            return
        texts = sorted(h.snippet for h in hits)
        # Four originals (two of them copied by the compaction: one hit
        # each), the detour left on its branch, and the summary.
        assert texts == sorted(
            [f"turn {n} about lighthouses" for n in range(4)]
            + ["a lighthouses detour", "summary: lighthouses"]
        )
        on_path = {e.id for e in await s.messages()}
        copied = {h.entry_id for h in hits if h.snippet in ("turn 2 about lighthouses",)}
        assert copied <= on_path  # the newest copy is the hit
        limited = await self._search(manager, "lighthouses", "alice", limit=2)
        assert limited is not None and len(limited) == 2

    async def test_search_refuses_bad_queries_before_any_io(
        self, manager: AsyncSessionManager
    ) -> None:
        for query in ("", "  ...  ", "x" * 1001, " ".join(f"w{n}" for n in range(33))):
            with pytest.raises(InvalidInput):
                await manager.search(query, user_id="alice")
        for limit in (0, 101, True, 2.5):
            with pytest.raises(InvalidInput):
                await manager.search("word", user_id="alice", limit=limit)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            await manager.search("word", user_id="")
        with pytest.raises(InvalidInput):
            await manager.search(7, user_id="alice")  # type: ignore[arg-type]
