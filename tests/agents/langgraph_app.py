"""A two-node LangGraph graph with a tool step and a human review, for the
checkpointer tests; LangChain's fake chat model plays the LLM.

``agent`` asks the model; a tool call goes to ``review``, which stops the run
with ``interrupt`` until ``Command(resume="approve")``, then to ``tools``,
which runs the weather tool and goes back to ``agent``.

``python -m tests.agents.langgraph_app URL THREAD`` runs the first part (up to
the review) in a process of its own, and prints the run's interrupt value.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from agentsession import SessionManager
from agentsession.integrations.langgraph import AgentSessionSaver

ASK = AIMessage(
    content="",
    id="ai-ask",
    tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}],
)


def answer(text: str) -> AIMessage:
    return AIMessage(content=text)


def build(saver: AgentSessionSaver, replies: Iterable[AIMessage]) -> CompiledStateGraph[Any]:
    model = GenericFakeChatModel(messages=iter(replies))

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def review(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        call = last.tool_calls[0]
        decision = interrupt({"tool": call["name"], "args": call["args"]})
        return {"messages": [HumanMessage(content=f"review: {decision}", id="review")]}

    def tools(state: MessagesState) -> dict[str, Any]:
        ai = next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
        call = ai.tool_calls[0]
        return {
            "messages": [
                ToolMessage(content=f"sunny in {call['args']['city']}", tool_call_id=call["id"])
            ]
        }

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "review" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("review", review)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["review", END])
    builder.add_edge("review", "tools")
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver)


def config(thread_id: str, user: str = "alice") -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "user_id": user}}


if __name__ == "__main__":
    url, thread = sys.argv[1], sys.argv[2]
    with SessionManager(url) as manager:
        graph = build(AgentSessionSaver(manager), [ASK])
        result = graph.invoke(
            {"messages": [HumanMessage(content="Weather in Paris?", id="h1")]},
            config(thread),
        )
        print(result["__interrupt__"][0].value)
