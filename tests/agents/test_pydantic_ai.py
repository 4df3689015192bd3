"""Pydantic AI runs recorded on every store, through both entry points
(:func:`run_with_history`, one ``extend`` under the loaded head; and
:func:`run_with_session`, a runtime turn), driven by Pydantic AI's own offline
models (``TestModel``, ``FunctionModel``): no network."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.agents.conftest import need

need("pydantic_ai", "pydantic-ai")

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from agentsession import (
    AsyncSession,
    AsyncSessionManager,
    ConflictError,
    Entry,
    Session,
    SessionManager,
)
from agentsession.integrations.pydantic_ai import (
    PydanticAIHistory,
    SyncPydanticAIHistory,
    load_messages,
    run_sync_with_history,
    run_sync_with_session,
    run_with_history,
    run_with_session,
)

# -- the two entry points, seen alike -------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """A recorded run: its output and ``all_messages()`` (history + new)."""

    output: object
    messages: list[ModelMessage]


Runner = Callable[[Agent[Any, Any], str, AsyncSession], Awaitable[Ran]]
SyncRunner = Callable[[Agent[Any, Any], str, Session], Ran]


async def with_history(agent: Agent[Any, Any], prompt: str, session: AsyncSession) -> Ran:
    result = await run_with_history(agent, prompt, session)
    return Ran(result.output, result.all_messages())


async def as_turn(agent: Agent[Any, Any], prompt: str, session: AsyncSession) -> Ran:
    run = await run_with_session(agent, prompt, session)
    assert run.result is not None and same(run.new_messages, run.result.new_messages())
    return Ran(run.output, run.result.all_messages())


def with_history_sync(agent: Agent[Any, Any], prompt: str, session: Session) -> Ran:
    result = run_sync_with_history(agent, prompt, session)
    return Ran(result.output, result.all_messages())


def as_turn_sync(agent: Agent[Any, Any], prompt: str, session: Session) -> Ran:
    run = run_sync_with_session(agent, prompt, session)
    assert run.result is not None and same(run.new_messages, run.result.new_messages())
    return Ran(run.output, run.result.all_messages())


runners = pytest.mark.parametrize("run", [with_history, as_turn], ids=["history", "turn"])
sync_runners = pytest.mark.parametrize(
    "run", [with_history_sync, as_turn_sync], ids=["history", "turn"]
)

# -- models, and what readers see ---------------------------------------------------


def prompts_seen(messages: list[ModelMessage]) -> list[object]:
    return [
        p.content
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart)
    ]


def recording_model(seen: list[list[ModelMessage]]) -> FunctionModel:
    """Answers with the prompts it was sent; keeps the messages of each call."""

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        return ModelResponse(parts=[TextPart(content=f"prompts so far: {prompts_seen(messages)}")])

    return FunctionModel(reply)


def weather_agent() -> Agent[None, str]:
    """An agent whose model calls ``weather`` once, then answers with its return."""

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1].parts[-1]
        if isinstance(last, ToolReturnPart):
            return ModelResponse(parts=[TextPart(content=f"It is {last.content}.")])
        call = ToolCallPart(tool_name="weather", args={"city": "Paris"}, tool_call_id="call-1")
        return ModelResponse(parts=[TextPart(content="Let me look."), call])

    agent = Agent(FunctionModel(model))

    @agent.tool_plain
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return agent


def chat(entries: list[Entry]) -> list[tuple[object, object]]:
    """What a plain agentsession reader sees: role and content."""
    return [(e.data["role"], e.data.get("content")) for e in entries]


def same(a: list[ModelMessage], b: list[ModelMessage]) -> bool:
    """Equal, and equal to the letter once serialised (timestamps, ids, args)."""
    return a == b and ModelMessagesTypeAdapter.dump_json(a) == ModelMessagesTypeAdapter.dump_json(b)


# -- both entry points, every store ---------------------------------------------------


@runners
@pytest.mark.asyncio
async def test_the_second_run_sees_the_first(run: Runner, store_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen), system_prompt="Be brief.")
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-1", "support", user_id="ann")
        first = await run(agent, "My name is Ann.", session)
        second = await run(agent, "Who am I?", session)
        assert second.output == "prompts so far: ['My name is Ann.', 'Who am I?']"
        # The model got the first run's messages, as they were, before the new request.
        assert same(seen[1][:2], first.messages) and len(seen[1]) == 3
        assert same(await load_messages(session), second.messages)
        # Plain readers see a chat: the user's prompt, not the system prompt.
        assert chat(await session.messages()) == [
            ("user", "My name is Ann."),
            ("assistant", "prompts so far: ['My name is Ann.']"),
            ("user", "Who am I?"),
            ("assistant", "prompts so far: ['My name is Ann.', 'Who am I?']"),
        ]


@runners
@pytest.mark.asyncio
async def test_tool_calls_round_trip_exactly(run: Runner, store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-2", "support")
        ran = await run(weather_agent(), "Weather in Paris?", session)
        assert ran.output == "It is sunny in Paris."
        loaded = await PydanticAIHistory(session).load()
        assert same(loaded, ran.messages)
        call, back = loaded[1].parts[1], loaded[2].parts[0]
        assert isinstance(call, ToolCallPart) and isinstance(back, ToolReturnPart)
        assert (call.tool_call_id, call.args, back.tool_call_id) == (
            "call-1",
            {"city": "Paris"},
            "call-1",
        )
        assert back.timestamp == ran.messages[2].parts[0].timestamp  # type: ignore[union-attr]
        assert chat(await session.messages()) == [
            ("user", "Weather in Paris?"),
            ("assistant", "Let me look."),
            ("user", None),
            ("assistant", "It is sunny in Paris."),
        ]


@runners
@pytest.mark.asyncio
async def test_a_new_manager_continues_the_conversation(run: Runner, durable_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen))
    async with AsyncSessionManager(durable_url) as manager:
        first = await run(agent, "one", await manager.attach("chat-3", "bot"))
    async with AsyncSessionManager(durable_url) as manager:
        session = await manager.attach("chat-3", "bot")
        second = await run(agent, "two", session)
        assert second.output == "prompts so far: ['one', 'two']"
        assert same(seen[1][:2], first.messages)
        assert same(await load_messages(session), second.messages)


@runners
@pytest.mark.asyncio
async def test_a_failing_run_writes_nothing(run: Runner, store_url: str) -> None:
    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("model down")

    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-4", "bot")
        ok = await run(Agent(TestModel()), "hello", session)
        revision = (await session.refresh()).revision
        with pytest.raises(RuntimeError, match="model down"):
            await run(Agent(FunctionModel(broken)), "again", session)
        assert (await session.refresh()).revision == revision
        assert same(await load_messages(session), ok.messages)


@runners
@pytest.mark.asyncio
async def test_concurrent_runs_one_conflicts_and_writes_nothing(
    run: Runner, store_url: str
) -> None:
    gate = asyncio.Barrier(2)

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await gate.wait()  # both runs have loaded the same head
        return ModelResponse(parts=[TextPart(content=f"done {prompts_seen(messages)}")])

    agent = Agent(FunctionModel(slow))
    async with AsyncSessionManager(store_url) as manager:
        a = await manager.attach("chat-5", "bot")
        b = await manager.get("chat-5")
        results = await asyncio.gather(
            run(agent, "A", a), run(agent, "B", b), return_exceptions=True
        )
        conflicts = [r for r in results if isinstance(r, ConflictError)]
        runs = [r for r in results if isinstance(r, Ran)]
        assert len(conflicts) == 1 and len(runs) == 1
        assert same(await load_messages(a), runs[0].messages)
        assert len(await a.messages()) == 2


@runners
@pytest.mark.asyncio
async def test_plain_messages_read_back_by_role(run: Runner, store_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-6", "bot")
        await session.extend(
            [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
            ]
        )
        loaded = await PydanticAIHistory(session).load()
        assert [
            (type(m), [(type(p), getattr(p, "content", None)) for p in m.parts]) for m in loaded
        ] == [
            (ModelRequest, [(SystemPromptPart, "Be kind.")]),
            (ModelRequest, [(UserPromptPart, "hi")]),
            (ModelResponse, [(TextPart, "hello")]),
        ]
        ran = await run(Agent(recording_model(seen)), "again", session)
        assert ran.output == "prompts so far: ['hi', 'again']"
        assert chat(await session.messages())[3:] == [
            ("user", "again"),
            ("assistant", "prompts so far: ['hi', 'again']"),
        ]


# -- each entry point's own -----------------------------------------------------------


@pytest.mark.asyncio
async def test_history_records_under_the_head_it_loaded(store_url: str) -> None:
    agent = Agent(TestModel(custom_output_text="ok"))
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-7", "bot")
        mine, theirs = PydanticAIHistory(session), PydanticAIHistory(session)
        with pytest.raises(RuntimeError, match="load"):
            await mine.record_messages([])
        assert await mine.load() == [] and await theirs.load() == []
        assert mine.head is None
        run_a, run_b = await agent.run("A"), await agent.run("B")
        written = await mine.record(run_a)
        assert mine.head == written[-1].id == (await session.refresh()).head
        with pytest.raises(ConflictError):
            await theirs.record(run_b)
        assert same(await load_messages(session), run_a.new_messages())
        # Reloaded, it records after the other run; one history records runs in a row.
        run_b = await agent.run("B", message_history=await theirs.load())
        await theirs.record(run_b)
        # A streamed run records alike.
        async with agent.run_stream("C", message_history=run_b.all_messages()) as run_c:
            assert await run_c.get_output() == "ok"
        await theirs.record(run_c)
        assert await theirs.record_messages([]) == []
        assert same(await theirs.load(), run_c.all_messages())
        assert [c for _, c in chat(await session.messages())] == ["A", "ok", "B", "ok", "C", "ok"]


@pytest.mark.asyncio
async def test_a_turn_id_replays_the_stored_run(store_url: str) -> None:
    agent = Agent(TestModel(custom_output_text="done"))
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("chat-8", "bot")
        first = await run_with_session(agent, "C", session, turn_id="req-1")
        again = await run_with_session(agent, "C", session, turn_id="req-1")
        assert again.turn.replayed and again.result is None and again.output == "done"
        assert same(again.new_messages, first.new_messages)
        assert len(await load_messages(session)) == 2


@pytest.fixture
def thread_loop() -> Iterator[None]:
    """``run_sync`` runs on the thread's event loop: give it one, closed after."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@sync_runners
@pytest.mark.usefixtures("thread_loop")
def test_the_sync_twins(run: SyncRunner, store_url: str) -> None:
    seen: list[list[ModelMessage]] = []
    agent = Agent(recording_model(seen))
    with SessionManager(store_url) as manager:
        session = manager.attach("chat-9", "bot")
        first = run(agent, "one", session)
        second = run(agent, "two", session)
        assert second.output == "prompts so far: ['one', 'two']"
        assert same(seen[1][:2], first.messages)
        mine, theirs = SyncPydanticAIHistory(session), SyncPydanticAIHistory(session)
        assert same(mine.load(), second.messages) and theirs.load()
        tool_run = weather_agent().run_sync("Weather?", message_history=mine.load())
        mine.record(tool_run)
        with pytest.raises(ConflictError):
            theirs.record_messages(agent.run_sync("three").new_messages())
        assert same(SyncPydanticAIHistory(session).load(), tool_run.all_messages())
