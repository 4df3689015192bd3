"""The LangChain chat message history on every store, driven by
``RunnableWithMessageHistory`` and LangChain's fake chat model (no network)."""

from __future__ import annotations

import asyncio
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import need

need("langchain_core", "langchain")

from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.history import RunnableWithMessageHistory

from agentsession import (
    AccessDenied,
    AsyncSession,
    AsyncSessionManager,
    InvalidInput,
    SessionManager,
)
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
    ToolMessage(content="sunny", tool_call_id="call_1", name="weather", id="t1"),
    AIMessage(content=[{"type": "text", "text": "Sunny."}], id="a2"),
]

# Both ways of naming the conversation: the session itself, or an id and a manager.
HOW = ["session", "manager"]


class Received(BaseCallbackHandler):
    """What the chat model was sent, call by call."""

    run_inline = True

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.calls.extend(messages)


class NoExecutor(ThreadPoolExecutor):
    """A loop's default executor that refuses work (``run_in_executor(None, ...)``)."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the default executor was used")


def chain(replies: list[str], history: Any) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter(replies))
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


def turn_config(session_id: str, received: Received) -> RunnableConfig:
    return {"configurable": {"session_id": session_id}, "callbacks": [received]}


def sync_history(manager: SessionManager, sid: str, how: str) -> AgentSessionChatMessageHistory:
    if how == "session":
        return AgentSessionChatMessageHistory(session=manager.attach(sid, "langchain"))
    return AgentSessionChatMessageHistory(sid, manager)


async def async_history(
    manager: AsyncSessionManager, sid: str, how: str
) -> AgentSessionChatMessageHistory:
    if how == "session":
        session = await manager.attach(sid, "langchain")
        return AgentSessionChatMessageHistory(async_session=session)
    return AgentSessionChatMessageHistory(sid, manager)


@pytest.mark.parametrize("how", HOW)
def test_messages_round_trip_exactly_sync(store_url: str, how: str) -> None:
    with SessionManager(store_url) as manager:
        history = sync_history(manager, "t-1", how)
        assert history.messages == []
        history.add_messages(CONVERSATION[:3])
        history.add_messages(CONVERSATION[3:])
        assert history.messages == CONVERSATION
        assert history.session_id == "t-1"
        s = manager.get("t-1")
        assert s.agent == "langchain" and s.revision == 2  # one write per call
        # Other agentsession readers see chat messages.
        roles = [(e.data["role"], e.data.get("content")) for e in s.messages()]
        assert roles[:2] == [("system", "You are terse."), ("user", "Weather in Paris?")]
        assert roles[3] == ("tool", "sunny") and roles[4] == ("assistant", None)
        # Read back by a session object of its own, from the store.
        assert AgentSessionChatMessageHistory(session=s).messages == CONVERSATION


@pytest.mark.asyncio
@pytest.mark.parametrize("how", HOW)
async def test_messages_round_trip_exactly_async(store_url: str, how: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        history = await async_history(manager, "t-2", how)
        await history.aadd_messages(CONVERSATION)
        assert await history.aget_messages() == CONVERSATION
        assert (await manager.get("t-2")).revision == 1
        # Only the async kind was given: the sync calls say what to pass.
        with pytest.raises(TypeError, match=r"session=<agentsession\.Session>|SessionManager"):
            _ = history.messages
        with pytest.raises(TypeError, match=r"session=<agentsession\.Session>|SessionManager"):
            history.add_messages([HumanMessage(content="x")])


@pytest.mark.asyncio
async def test_async_methods_use_no_executor(store_url: str) -> None:
    asyncio.get_running_loop().set_default_executor(NoExecutor())
    async with AsyncSessionManager(store_url) as manager:
        session = await manager.attach("t-3", "langchain")
        history = AgentSessionChatMessageHistory(async_session=session)
        # The trap is live: LangChain's default implementation falls into it.
        with pytest.raises(AssertionError, match="default executor"):
            await BaseChatMessageHistory.aget_messages(history)
        await history.aadd_messages(CONVERSATION[:2])
        await history.aadd_messages(CONVERSATION[2:])
        assert await history.aget_messages() == CONVERSATION
        await history.aclear()
        assert await history.aget_messages() == []
        (old,) = await session.branches()  # the cleared messages, off the current path
        assert old.message_count == len(CONVERSATION) and not old.is_current


def test_a_sync_session_alone_refuses_async_calls() -> None:
    with SessionManager("memory://") as manager:
        history = AgentSessionChatMessageHistory(session=manager.attach("t-4", "bot"))

        async def calls() -> None:
            message = [HumanMessage(content="x")]
            calls = [history.aget_messages, lambda: history.aadd_messages(message), history.aclear]
            for call in calls:
                with pytest.raises(TypeError, match=r"async_session=<agentsession\.AsyncSession>"):
                    await call()

        asyncio.run(calls())
        assert manager.get("t-4").message_count == 0


def test_construction_needs_one_way_to_the_session() -> None:
    async def other_session() -> AsyncSession:
        async with AsyncSessionManager("memory://") as amanager:
            return await amanager.attach("c-2", "bot")

    other = asyncio.run(other_session())  # only its id is read here
    with SessionManager("memory://") as manager:
        a, b = manager.attach("c-1", "bot"), manager.attach("c-2", "bot")
        with pytest.raises(TypeError, match="session="):
            AgentSessionChatMessageHistory()  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="not both"):
            AgentSessionChatMessageHistory("c-1", manager, session=a)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="a session_id and a manager"):
            AgentSessionChatMessageHistory("c-1")  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="same session"):
            AgentSessionChatMessageHistory(session=a, async_session=other)
        assert AgentSessionChatMessageHistory(session=b, async_session=other).session_id == "c-2"


def test_plain_agentsession_messages_read_by_role(store_url: str) -> None:
    with SessionManager(store_url) as manager:
        s = manager.attach("t-5", "bot")
        s.extend(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "tool", "content": "42", "tool_call_id": "c1"},
                {"role": "system", "content": "be kind"},
            ]
        )
        assert AgentSessionChatMessageHistory(session=s).messages == [
            HumanMessage(content="hi"),
            AIMessage(content="hello"),
            ToolMessage(content="42", tool_call_id="c1"),
            SystemMessage(content="be kind"),
        ]


def test_a_bad_message_writes_nothing_and_clear_keeps_a_branch(store_url: str) -> None:
    with SessionManager(store_url) as manager:
        s = manager.attach("t-6", "bot")
        history = AgentSessionChatMessageHistory(session=s)
        history.add_messages(CONVERSATION[:2])
        before = s.refresh().revision
        bad = HumanMessage(content="x", additional_kwargs={"blob": float("nan")})
        with pytest.raises(InvalidInput):
            history.add_messages([HumanMessage(content="fine"), bad])
        assert history.messages == CONVERSATION[:2] and s.refresh().revision == before
        history.clear()
        assert history.messages == []
        (old,) = [b for b in s.branches() if not b.is_current]
        s.switch(old.leaf_id)
        assert history.messages == CONVERSATION[:2]


def test_runnable_with_message_history_sync(store_url: str) -> None:
    received = Received()
    with SessionManager(store_url) as manager:
        runnable = chain(
            ["Hello Ann.", "You are Ann."],
            lambda sid: AgentSessionChatMessageHistory(session=manager.attach(sid, "bot")),
        )
        config = turn_config("t-7", received)
        first = runnable.invoke({"question": "My name is Ann."}, config=config)
        second = runnable.invoke({"question": "Who am I?"}, config=config)
        assert (first.content, second.content) == ("Hello Ann.", "You are Ann.")
        # The second call carried the first turn, exactly as the model answered it.
        assert received.calls[0] == [HumanMessage(content="My name is Ann.")]
        assert received.calls[1] == [
            HumanMessage(content="My name is Ann."),
            first,
            HumanMessage(content="Who am I?"),
        ]
        assert manager.get("t-7").message_count == 4


@pytest.mark.asyncio
async def test_runnable_with_message_history_async_across_managers(durable_url: str) -> None:
    received = Received()
    config = turn_config("t-8", received)
    replies = ["Hello Ann.", "You are Ann."]
    async with AsyncSessionManager(durable_url) as manager:
        opened = {"t-8": await manager.attach("t-8", "bot", user_id="ann")}
        runnable = chain(
            replies, lambda sid: AgentSessionChatMessageHistory(async_session=opened[sid])
        )
        first = await runnable.ainvoke({"question": "My name is Ann."}, config=config)
    # A second manager on the same store (a restart) carries on the conversation.
    async with AsyncSessionManager(durable_url) as manager:
        opened = {"t-8": await manager.get("t-8", user_id="ann")}
        runnable = chain(
            replies[1:], lambda sid: AgentSessionChatMessageHistory(async_session=opened[sid])
        )
        second = await runnable.ainvoke({"question": "Who am I?"}, config=config)
        assert second.content == "You are Ann."
        assert received.calls[1] == [
            HumanMessage(content="My name is Ann."),
            first,
            HumanMessage(content="Who am I?"),
        ]
        assert (await manager.get("t-8")).message_count == 4
        history = await async_history(manager, "t-8", "manager")
        assert [m.content for m in await history.aget_messages()] == [
            "My name is Ann.",
            "Hello Ann.",
            "Who am I?",
            "You are Ann.",
        ]


@pytest.mark.asyncio
async def test_a_manager_and_an_owner(store_url: str) -> None:
    received = Received()
    async with AsyncSessionManager(store_url) as manager:
        runnable = chain(
            ["Hello Ann."],
            lambda sid: AgentSessionChatMessageHistory(sid, manager, user_id="ann"),
        )
        await runnable.ainvoke({"question": "My name is Ann."}, config=turn_config("t-9", received))
        assert (await manager.get("t-9", user_id="ann")).message_count == 2
        with pytest.raises(AccessDenied):
            await AgentSessionChatMessageHistory("t-9", manager, user_id="bob").aget_messages()
        with pytest.raises(AccessDenied):
            await AgentSessionChatMessageHistory("t-9", manager, user_id=None).aadd_messages(
                [HumanMessage(content="mine now")]
            )
        assert (await manager.get("t-9")).message_count == 2


def test_a_url_opens_what_each_call_needs(tmp_path: Path) -> None:
    history = AgentSessionChatMessageHistory("t-10", f"sqlite:///{tmp_path / 'lc.db'}")
    history.add_messages([HumanMessage(content="sync")])

    async def go() -> list[Any]:
        await history.aadd_messages([AIMessage(content="async")])
        got = [m.content for m in await history.aget_messages()]
        await history.aclose()
        return got

    assert asyncio.run(go()) == ["sync", "async"]
    history = AgentSessionChatMessageHistory("t-10", f"sqlite:///{tmp_path / 'lc.db'}")
    assert [m.content for m in history.messages] == ["sync", "async"]
    history.close()
