"""Memory-aware agents: a reader that searches the past conversations of the
user whose turn is running, on every store, and never anyone else's.

The concurrency test is written so that a reader bound to "the last user who
called" (``set_memory`` with a per-user reader on a shared agent object) fails
it: two users' turns interleave on one agent object between ``set_memory`` and
the search.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentsession import (
    AsyncMemoryReader,
    AsyncSession,
    AsyncSessionManager,
    MemoryAware,
    MemoryReader,
    NoSessionInContext,
    Session,
    SessionManager,
)


def _said(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


class Recall:
    """A sync memory-aware agent: answers with what it finds."""

    def __init__(self) -> None:
        self.memory: Any = None

    def set_memory(self, reader: Any) -> None:
        self.memory = reader

    def __call__(self, input: str, session: Session) -> str:
        hits = self.memory.search(input, limit=5)
        return " | ".join(h.snippet for h in hits) or "nothing"


def test_a_sync_agent_recalls_its_users_conversations_only(store_url: str) -> None:
    agent = Recall()
    assert isinstance(agent, MemoryAware)
    with SessionManager(store_url) as m:
        for user, colour in (("alice", "teal"), ("bob", "crimson")):
            m.create("bot", user_id=user).append(_said(f"my favourite colour is {colour}"))
        m.create("bot").append(_said("an anonymous favourite colour is grey"))
        alice = m.call_with_session(agent, "favourite colour", user_id="alice")
        assert isinstance(agent.memory, MemoryReader)
        bob = m.call_with_session(agent, "favourite colour", user_id="bob")
        anonymous = m.call_with_session(agent, "favourite colour")
    assert alice.reply == "my favourite colour is teal"
    assert bob.reply == "my favourite colour is crimson"
    assert anonymous.reply == "nothing"  # anonymous sessions share no owner


@pytest.mark.asyncio
async def test_concurrent_turns_on_one_agent_each_search_their_own_user(
    store_url: str,
) -> None:
    both_started = asyncio.Barrier(2)

    class Shared:
        memory: Any = None

        def set_memory(self, reader: Any) -> None:
            self.memory = reader

        async def execute_with_session(self, input: str, session: AsyncSession) -> str:
            await both_started.wait()  # both turns have had set_memory called
            hits = await self.memory.search(input)
            return " | ".join(h.snippet for h in hits)

    agent = Shared()
    async with AsyncSessionManager(store_url) as m:
        for user in ("alice", "bob"):
            s = await m.create("bot", user_id=user)
            await s.append(_said(f"{user} keeps the password zucchini-{user}"))
        alice, bob = await asyncio.gather(
            m.call_with_session(agent, "password", user_id="alice"),
            m.call_with_session(agent, "password", user_id="bob"),
        )
        assert isinstance(agent.memory, AsyncMemoryReader)
        assert alice.reply == "alice keeps the password zucchini-alice"
        assert bob.reply == "bob keeps the password zucchini-bob"
        with pytest.raises(NoSessionInContext):
            await agent.memory.search("password")


def test_a_reader_of_the_other_kind_is_refused(store_url: str) -> None:
    reader = AsyncMemoryReader()

    def agent(input: str, session: Session) -> str:
        with pytest.raises(TypeError):
            asyncio.run(reader.search("anything"))
        return "done"

    with SessionManager(store_url) as m:
        assert m.call_with_session(agent, "hi", user_id="alice").reply == "done"
