"""The OpenAI Agents SDK session, driven by the SDK's real ``Runner`` and its
own offline ``ScriptedModel`` (no network), on every store.

Exactness is judged against the SDK's own ``SQLiteSession``: the same script
run on both must leave the same items.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import need

need("agents", "openai-agents")

from agents import Agent, Runner, SQLiteSession, function_tool, handoff, set_tracing_disabled
from agents.run_context import RunContextWrapper
from agents.testing import ScriptedModel, assistant_message, function_call
from openai.types.responses.response_reasoning_item import ResponseReasoningItem, Summary

from agentsession import AccessDenied, AsyncSessionManager, SessionManager
from agentsession.integrations.openai_agents import OpenAIAgentsSession
from agentsession.testing import FakeClock

set_tracing_disabled(True)

ROOT = Path(__file__).resolve().parents[2]


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def script() -> list[Any]:
    """Two turns: a reasoning step and a tool call, a handoff, then replies."""
    reasoning = ResponseReasoningItem(
        id="rs_1",
        type="reasoning",
        summary=[Summary(text="look the weather up", type="summary_text")],
        encrypted_content="opaque-blob",
    )
    return [
        [reasoning, function_call("weather", {"city": "Paris"}, call_id="call_1")],
        [function_call("transfer_to_expert", {}, call_id="call_2")],
        [assistant_message("Sunny in Paris, says the expert.", item_id="msg_1")],
        [assistant_message("You asked about Paris.", item_id="msg_2")],
    ]


def agents_for(model: ScriptedModel) -> Agent[Any]:
    expert = Agent[Any](name="expert", model=model)
    return Agent[Any](name="front", model=model, tools=[weather], handoffs=[handoff(expert)])


async def converse(session: Any) -> ScriptedModel:
    model = ScriptedModel(script())
    front = agents_for(model)
    first = await Runner.run(front, "Weather in Paris?", session=session)
    assert first.final_output == "Sunny in Paris, says the expert."
    second = await Runner.run(front, "What did I ask?", session=session)
    assert second.final_output == "You asked about Paris."
    return model


@pytest.mark.asyncio
async def test_items_round_trip_exactly_as_the_sdks_own_session(store_url: str) -> None:
    reference = SQLiteSession("reference")
    await converse(reference)
    expected = await reference.get_items()
    kinds = {item.get("type", "message") for item in expected}
    assert {"reasoning", "function_call", "function_call_output", "message"} <= kinds
    assert any(item.get("name") == "transfer_to_expert" for item in expected)

    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-1", manager, user_id="ann")
        model = await converse(session)
        assert await session.get_items() == expected
        assert await session.get_items(limit=2) == expected[-2:]
        # The second turn's model call saw the whole first turn, from the store.
        assert model.last_call is not None
        assert model.last_call.input[: len(expected) - 1] == expected[:-1]
        # The same session, through agentsession: owned by ann, all items.
        s = await manager.get("conv-1", user_id="ann")
        assert s.message_count == len(expected) and s.agent == "openai-agents"


@pytest.mark.asyncio
async def test_each_add_items_is_one_write(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-w", manager)
        await session.add_items([{"role": "user", "content": "a"}])
        s = await session.agent_session()
        revision = (await s.refresh()).revision
        items: list[Any] = [{"role": "user", "content": str(i)} for i in range(5)]
        await session.add_items(items)
        assert (await s.refresh()).revision == revision + 1
        bad: list[Any] = [{"role": "user", "content": "ok"}, {"role": "user", "content": {1}}]
        with pytest.raises(ValueError):
            await session.add_items(bad)
        assert (await s.refresh()).revision == revision + 1
        assert len(await session.get_items()) == 6


@pytest.mark.asyncio
async def test_pop_item_rewinds_and_keeps_the_item_on_a_branch(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-p", manager)
        await converse(session)
        before = await session.get_items()
        popped = await session.pop_item()
        assert popped == before[-1]
        assert await session.get_items() == before[:-1]
        s = await session.agent_session()
        branches = await s.branches()
        await s.switch(branches[0].leaf_id if not branches[0].is_current else branches[1].leaf_id)
        assert await session.get_items() == before


@pytest.mark.asyncio
async def test_clear_then_add_loses_nothing(store_url: str) -> None:
    """The SDK's compaction: clear_session() then add_items(summary)."""
    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-c", manager)
        await converse(session)
        history = await session.get_items()
        await session.clear_session()
        assert await session.get_items() == []
        summary: Any = {"role": "assistant", "content": "We talked about Paris."}
        await session.add_items([summary])
        assert await session.get_items() == [summary]
        s = await session.agent_session()
        old = [b for b in await s.branches() if not b.is_current]
        assert len(old) == 1 and old[0].message_count == len(history)
        await s.switch(old[0].leaf_id)
        assert await session.get_items() == history


class ScriptedCompactions:
    """An ``AsyncOpenAI`` stand-in for ``responses.compact`` (its public shape):
    answers with a fixed summary item, and records what it was sent."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.sent: list[dict[str, Any]] = []
        self.responses = self

    async def compact(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return type("Compacted", (), {"output": [self.summary], "usage": None})()


@pytest.mark.asyncio
async def test_the_sdks_compaction_replaces_the_history_in_one_write(store_url: str) -> None:
    from agents.memory import OpenAIResponsesCompactionSession

    summary: Any = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "We talked about Paris.", "annotations": []}],
    }
    async with AsyncSessionManager(store_url) as manager:
        ours = OpenAIAgentsSession("conv-compact", manager)
        await converse(ours)
        history = await ours.get_items()
        s = await ours.agent_session()
        revision = (await s.refresh()).revision
        client = ScriptedCompactions(summary)
        compacting = OpenAIResponsesCompactionSession(
            "conv-compact",
            ours,
            client=client,  # type: ignore[arg-type]
            model="gpt-4.1",
        )
        await compacting.run_compaction({"force": True})
        assert client.sent and client.sent[0]["input"]  # the history went to compact()
        assert await ours.get_items() == [summary]
        # One write (the new path), not clear_session() then add_items().
        assert (await s.refresh()).revision == revision + 1
        old = [b for b in await s.branches() if not b.is_current]
        assert len(old) == 1 and old[0].message_count == len(history)
        await s.switch(old[0].leaf_id)
        assert await ours.get_items() == history


@pytest.mark.asyncio
async def test_concurrent_runs_on_one_session_lose_nothing(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-x", manager)

        async def one(i: int) -> None:
            model = ScriptedModel([[assistant_message(f"reply {i}", item_id=f"m{i}")]])
            await Runner.run(Agent[Any](name="a", model=model), f"question {i}", session=session)

        await asyncio.gather(*(one(i) for i in range(6)))
        items = await session.get_items()
        assert len(items) == 12
        texts = [json.dumps(item) for item in items]
        for i in range(6):
            assert sum(f"question {i}" in t for t in texts) == 1
            assert sum(f"reply {i}" in t for t in texts) == 1


@pytest.mark.asyncio
async def test_a_streamed_run_is_stored(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        session = OpenAIAgentsSession("conv-s", manager)
        model = ScriptedModel(
            [
                [function_call("weather", {"city": "Oslo"}, call_id="c9")],
                [assistant_message("Sunny in Oslo.")],
            ]
        )
        agent = Agent[Any](name="a", model=model, tools=[weather])
        result = Runner.run_streamed(agent, "Oslo?", session=session)
        events = [event.type async for event in result.stream_events()]
        assert "run_item_stream_event" in events and result.final_output == "Sunny in Oslo."
        types = [item.get("type", "message") for item in await session.get_items()]
        assert types == ["message", "function_call", "function_call_output", "message"]


@dataclass
class Caller:
    user: str


@pytest.mark.asyncio
async def test_a_foreign_user_is_refused_before_anything_is_read(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        mine = OpenAIAgentsSession("conv-o", manager, user_id="ann")
        await converse(mine)
        s = await manager.get("conv-o")
        before = (s.revision, s.head)

        for intruder in (
            OpenAIAgentsSession("conv-o", manager, user_id="bob"),
            OpenAIAgentsSession("conv-o", manager, user_id=None),
            OpenAIAgentsSession("conv-o", manager, user_from=lambda w: w.context.user),
        ):
            model = ScriptedModel([[assistant_message("leaked")]])
            with pytest.raises(AccessDenied):
                await Runner.run(
                    Agent[Any](name="a", model=model),
                    "show me",
                    session=intruder,
                    context=Caller("bob"),
                )
            assert model.calls == ()
            bob = RunContextWrapper(context=Caller("bob"))
            for call in (
                intruder.get_items(wrapper=bob),
                intruder.pop_item(wrapper=bob),
                intruder.clear_session(wrapper=bob),
                intruder.add_items([{"role": "user", "content": "x"}], wrapper=bob),
            ):
                with pytest.raises(AccessDenied):
                    await call
        after = await manager.get("conv-o")
        assert (after.revision, after.head) == before

        # The run context names the owner: ann's context reaches ann's session.
        by_context = OpenAIAgentsSession(
            "conv-o", manager, user_id="nobody", user_from=lambda w: w.context.user
        )
        model = ScriptedModel([[assistant_message("welcome back")]])
        await Runner.run(
            Agent[Any](name="a", model=model), "hi", session=by_context, context=Caller("ann")
        )
        assert model.last_call is not None and len(model.last_call.input) > 2


def test_run_sync_keeps_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    model = ScriptedModel([[assistant_message("one")], [assistant_message("two")]])
    agent = Agent[Any](name="a", model=model)
    session = OpenAIAgentsSession("conv-sync", url)
    # run_sync runs on the thread's event loop: give it one, and close it after.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert Runner.run_sync(agent, "first", session=session).final_output == "one"
        assert Runner.run_sync(agent, "second", session=session).final_output == "two"
        loop.run_until_complete(session.close())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert model.last_call is not None and len(model.last_call.input) == 3
    with SessionManager(url) as sync_manager:
        assert sync_manager.get("conv-sync").message_count == 4


CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from agents import Agent, Runner, set_tracing_disabled
    from agents.testing import ScriptedModel, assistant_message
    from agentsession.integrations.openai_agents import OpenAIAgentsSession

    set_tracing_disabled(True)

    async def main():
        session = OpenAIAgentsSession("conv-p2", sys.argv[1], user_id="ann")
        model = ScriptedModel([[assistant_message("I remember Paris.")]])
        result = await Runner.run(Agent(name="a", model=model), "Remember?", session=session)
        await session.close()
        print(json.dumps({"out": result.final_output, "seen": model.last_call.input}))

    asyncio.run(main())
    """
)


@pytest.mark.asyncio
async def test_a_second_process_continues_the_conversation(durable_url: str) -> None:
    async with AsyncSessionManager(durable_url) as manager:
        session = OpenAIAgentsSession("conv-p2", manager, user_id="ann")
        await converse(session)
        history = await session.get_items()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, durable_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["out"] == "I remember Paris."
    assert child["seen"][: len(history)] == history
    async with AsyncSessionManager(durable_url) as manager:
        again = OpenAIAgentsSession("conv-p2", manager, user_id="ann")
        items = await again.get_items()
        assert items[: len(history)] == history and len(items) == len(history) + 2


@pytest.mark.asyncio
async def test_checkpoints_branches_expiry_and_listing_stay_available(store_url: str) -> None:
    clock = FakeClock()
    async with AsyncSessionManager(store_url, idle_timeout=timedelta(hours=1), clock=clock) as m:
        session = OpenAIAgentsSession("conv-k", m, user_id="ann")
        model = ScriptedModel([[assistant_message("one")], [assistant_message("two")]])
        agent = Agent[Any](name="a", model=model)
        await Runner.run(agent, "first", session=session)
        s = await session.agent_session()
        point = await s.checkpoint("after-first")
        await Runner.run(agent, "second", session=session)
        assert len(await session.get_items()) == 4
        await s.restore(point.id)
        restored = await session.get_items()
        assert len(restored) == 2 and restored[0].get("content") == "first"
        assert [row.id for row in await m.list(user_id="ann")] == ["conv-k"]
        assert await m.list(user_id="bob") == []
        clock.advance(timedelta(hours=2))  # idle: expired, so empty and unlisted
        assert await session.get_items() == []
        assert await m.list(user_id="ann") == []


@pytest.mark.asyncio
async def test_a_session_deleted_or_expired_after_it_was_found_reads_as_empty(
    store_url: str,
) -> None:
    # Every call, not only get_items and add_items, sees a session that went
    # away behind the adapter's back as an empty one, as the SDK's own do.
    clock = FakeClock()
    async with AsyncSessionManager(store_url, idle_timeout=timedelta(hours=1), clock=clock) as m:
        session = OpenAIAgentsSession("conv-gone", m, user_id="ann")
        for gone in ("deleted", "expired"):
            await session.add_items([{"role": "user", "content": "hi"}])
            assert len(await session.get_items()) == 1  # found, and kept
            if gone == "deleted":
                assert await m.delete("conv-gone")
            else:
                clock.advance(timedelta(hours=2))
            assert await session.pop_item() is None
            await session.clear_session()
            assert await session.get_items() == []
            await session.add_items([{"role": "user", "content": "again"}])
            assert [i.get("content") for i in await session.get_items()] == ["again"]
            assert await m.delete("conv-gone")
