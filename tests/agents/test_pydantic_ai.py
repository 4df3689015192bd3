"""Pydantic AI runs recorded as turns on every store, driven by Pydantic AI's
own offline models (``TestModel``, ``FunctionModel``): no network."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.agents.conftest import need

need("pydantic_ai", "pydantic-ai")

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from agentsession import AsyncSessionManager, ConflictError, SessionManager
from agentsession.integrations.pydantic_ai import (
    load_messages,
    run_sync_with_session,
    run_with_session,
)


def recording_model(seen: list[list[ModelMessage]]) -> FunctionModel:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        prompts = [
            p.content
            for m in messages
            if isinstance(m, ModelRequest)
            for p in m.parts
            if isinstance(p, UserPromptPart)
        ]
        return ModelResponse(parts=[TextPart(content=f"prompts so far: {prompts}")])

    return FunctionModel(reply)


@pytest.mark.asyncio
async def test_the_second_run_sees_the_first(store_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen), instructions="Be brief.")
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-1", "support", user_id="ann")
        first = await run_with_session(agent, "My name is Ann.", session)
        second = await run_with_session(agent, "Who am I?", session)
        assert first.output == "prompts so far: ['My name is Ann.']"
        assert second.output == "prompts so far: ['My name is Ann.', 'Who am I?']"
        assert len(seen[1]) == 3  # request, response, request
        stored = await load_messages(session)
        assert stored == first.new_messages + second.new_messages
        assert stored == [*first.result.all_messages(), *second.result.new_messages()]  # type: ignore[union-attr]
        # Plain agentsession readers see a chat.
        chat = [(e.data["role"], e.data.get("content")) for e in await session.messages()]
        assert chat[0] == ("user", "My name is Ann.") and chat[1][0] == "assistant"


@pytest.mark.asyncio
async def test_tool_calls_round_trip_exactly(store_url: str) -> None:
    agent = Agent(TestModel())

    @agent.tool_plain
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-2", "support")
        run = await run_with_session(agent, "Weather?", session)
        assert run.result is not None
        kinds = [type(p) for m in run.result.new_messages() for p in m.parts]
        assert ToolCallPart in kinds and ToolReturnPart in kinds
        assert await load_messages(session) == run.result.new_messages()


@pytest.mark.asyncio
async def test_a_restart_continues_the_conversation(durable_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen))
    async with AsyncSessionManager(durable_url) as manager:
        await run_with_session(agent, "one", await manager.attach("chat-3", "bot"))
    async with AsyncSessionManager(durable_url) as manager:
        run = await run_with_session(agent, "two", await manager.attach("chat-3", "bot"))
        assert run.output == "prompts so far: ['one', 'two']"


@pytest.mark.asyncio
async def test_a_failing_run_writes_nothing(store_url: str) -> None:
    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("model down")

    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-4", "bot")
        await run_with_session(Agent(TestModel()), "hello", session)
        before = (await session.refresh()).revision, await load_messages(session)
        with pytest.raises(RuntimeError, match="model down"):
            await run_with_session(Agent(FunctionModel(broken)), "again", session)
        assert ((await session.refresh()).revision, await load_messages(session)) == before


@pytest.mark.asyncio
async def test_concurrent_runs_one_conflicts_and_a_turn_id_replays(store_url: str) -> None:
    gate = asyncio.Barrier(2)

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await gate.wait()
        return ModelResponse(parts=[TextPart(content="done")])

    agent = Agent(FunctionModel(slow))
    async with AsyncSessionManager(store_url) as manager:
        a = await manager.attach("chat-5", "bot")
        b = await manager.get("chat-5")
        results = await asyncio.gather(
            run_with_session(agent, "A", a),
            run_with_session(agent, "B", b),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["ConflictError", "RecordedRun"]
        assert len(await load_messages(a)) == 2
        gate = asyncio.Barrier(1)
        first = await run_with_session(agent, "C", a, turn_id="req-1")
        again = await run_with_session(agent, "C", a, turn_id="req-1")
        assert again.turn.replayed and again.result is None and again.output == "done"
        assert again.new_messages == first.new_messages
        assert len(await load_messages(a)) == 4
        assert isinstance(results[0], ConflictError) or isinstance(results[1], ConflictError)


def test_the_sync_twin(tmp_path: Any) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen))
    # run_sync runs on the thread's event loop (made if missing): give it one,
    # and close it after.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with SessionManager(f"sqlite:///{tmp_path / 'p.db'}") as manager:
            session = manager.attach("chat-6", "bot")
            run_sync_with_session(agent, "one", session)
            run = run_sync_with_session(agent, "two", session)
            assert run.output == "prompts so far: ['one', 'two']"
            assert session.refresh().message_count == 4
    finally:
        asyncio.set_event_loop(None)
        loop.close()
