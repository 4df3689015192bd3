"""The LangChain chat message history on every store, driven by
``RunnableWithMessageHistory`` and a scripted chat model (no network)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from tests.agents.conftest import need

need("langchain_core", "langchain")

from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from pydantic import Field

from agentsession import AccessDenied, AsyncSessionManager, InvalidInput, SessionManager
from agentsession.integrations.langchain import AgentSessionChatMessageHistory

CONVERSATION: list[BaseMessage] = [
    SystemMessage(content="You are terse."),
    HumanMessage(content="Weather in Paris?", id="h1"),
    AIMessage(
        content="",
        id="a1",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}],
        additional_kwargs={"refusal": None},
        response_metadata={"model_name": "scripted", "finish_reason": "tool_calls"},
    ),
    ToolMessage(content="sunny", tool_call_id="call_1", name="weather"),
    AIMessage(content=[{"type": "text", "text": "Sunny."}], id="a2"),
]


class Scripted(BaseChatModel):
    """Answers with what it was sent, and keeps every call's messages."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        reply = AIMessage(content=f"heard {len(messages)}: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def chain(model: Scripted, history: Any) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    # Deprecated in langchain-core 1.x in favour of LangGraph's persistence,
    # but still what BaseChatMessageHistory users run.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        return RunnableWithMessageHistory(
            prompt | model,
            history,
            input_messages_key="question",
            history_messages_key="history",
        )


def test_messages_round_trip_exactly_sync(store_url: str) -> None:
    with SessionManager(store_url) as manager:
        history = AgentSessionChatMessageHistory("t-1", manager, user_id="ann")
        assert history.messages == []
        history.add_messages(CONVERSATION[:3])
        history.add_messages(CONVERSATION[3:])
        assert history.messages == CONVERSATION
        s = manager.get("t-1", user_id="ann")
        assert s.agent == "langchain" and s.revision == 2
        # Other agentsession readers see chat messages.
        roles = [(e.data["role"], e.data.get("content")) for e in s.messages()]
        assert roles[:2] == [("system", "You are terse."), ("user", "Weather in Paris?")]
        assert roles[3] == ("tool", "sunny") and roles[4] == ("assistant", None)


@pytest.mark.asyncio
async def test_messages_round_trip_exactly_async(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        history = AgentSessionChatMessageHistory("t-2", manager)
        await history.aadd_messages(CONVERSATION)
        assert await history.aget_messages() == CONVERSATION
        # Only an async manager was given: the base class's executor hop to
        # the sync property would fail, so the async methods are native.
        with pytest.raises(TypeError, match="SessionManager"):
            _ = history.messages


def test_plain_agentsession_messages_read_by_role(store_url: str) -> None:
    with SessionManager(store_url) as manager:
        s = manager.attach("t-3", "bot")
        s.extend(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "tool", "content": "42", "tool_call_id": "c1"},
                {"role": "system", "content": "be kind"},
            ]
        )
        got = AgentSessionChatMessageHistory("t-3", manager).messages
        assert got == [
            HumanMessage(content="hi"),
            AIMessage(content="hello"),
            ToolMessage(content="42", tool_call_id="c1"),
            SystemMessage(content="be kind"),
        ]


def test_a_bad_message_writes_nothing_and_clear_keeps_a_branch(store_url: str) -> None:
    with SessionManager(store_url) as manager:
        history = AgentSessionChatMessageHistory("t-4", manager)
        history.add_messages(CONVERSATION[:2])
        s = manager.get("t-4")
        bad = HumanMessage(content="x", additional_kwargs={"blob": float("nan")})
        with pytest.raises(InvalidInput):
            history.add_messages([HumanMessage(content="fine"), bad])
        assert history.messages == CONVERSATION[:2] and s.refresh().revision == 1
        history.clear()
        assert history.messages == []
        (old,) = [b for b in s.branches() if not b.is_current]
        s.switch(old.leaf_id)
        assert history.messages == CONVERSATION[:2]


def test_runnable_with_message_history_sync(store_url: str) -> None:
    model = Scripted(calls=[])
    with SessionManager(store_url) as manager:
        runnable = chain(model, lambda sid: AgentSessionChatMessageHistory(sid, manager))
        config: Any = {"configurable": {"session_id": "t-5"}}
        first = runnable.invoke({"question": "My name is Ann."}, config=config)
        second = runnable.invoke({"question": "Who am I?"}, config=config)
        assert first.content == "heard 1: My name is Ann."
        assert second.content == "heard 3: Who am I?"
        assert [m.content for m in model.calls[1]] == [
            "My name is Ann.",
            "heard 1: My name is Ann.",
            "Who am I?",
        ]
        assert manager.get("t-5").message_count == 4


@pytest.mark.asyncio
async def test_runnable_with_message_history_async(durable_url: str) -> None:
    model = Scripted(calls=[])
    async with AsyncSessionManager(durable_url) as manager:
        runnable = chain(
            model, lambda sid: AgentSessionChatMessageHistory(sid, manager, user_id="ann")
        )
        config: Any = {"configurable": {"session_id": "t-6"}}
        await runnable.ainvoke({"question": "My name is Ann."}, config=config)
    # A new manager on the same store (a restart) carries on the conversation.
    async with AsyncSessionManager(durable_url) as manager:
        runnable = chain(
            model, lambda sid: AgentSessionChatMessageHistory(sid, manager, user_id="ann")
        )
        second = await runnable.ainvoke({"question": "Who am I?"}, config=config)
        assert second.content == "heard 3: Who am I?"
        with pytest.raises(AccessDenied):
            await AgentSessionChatMessageHistory("t-6", manager, user_id="bob").aget_messages()
        with pytest.raises(AccessDenied):
            await AgentSessionChatMessageHistory("t-6", manager, user_id=None).aadd_messages(
                [HumanMessage(content="mine now")]
            )
        assert (await manager.get("t-6")).message_count == 4


def test_a_url_opens_what_each_call_needs(tmp_path: Any) -> None:
    history = AgentSessionChatMessageHistory("t-7", f"sqlite:///{tmp_path / 'lc.db'}")
    history.add_messages([HumanMessage(content="sync")])

    async def go() -> list[Any]:
        await history.aadd_messages([AIMessage(content="async")])
        got = [m.content for m in await history.aget_messages()]
        await history.aclose()
        return got

    assert asyncio.run(go()) == ["sync", "async"]
    history = AgentSessionChatMessageHistory("t-7", f"sqlite:///{tmp_path / 'lc.db'}")
    assert [m.content for m in history.messages] == ["sync", "async"]
    history.close()
