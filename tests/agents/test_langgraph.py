"""The LangGraph checkpointer under a real compiled graph (LangChain's fake
chat model, a tool step, a human review with ``interrupt``): resumed in a
second process, time-travelled and forked; and its owner rules, thread ids,
storage layout and expiry on every store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest

from tests.agents.conftest import need

need("langgraph.checkpoint.base", "langgraph")

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agentsession import AccessDenied, AsyncSessionManager, SessionManager
from agentsession.integrations.langgraph import AgentSessionSaver, session_id_for
from tests.agents.langgraph_app import ASK, answer, build, config

ROOT = Path(__file__).resolve().parents[2]
QUESTION = {"messages": [HumanMessage(content="Weather in Paris?", id="h1")]}


def contents(state: dict[str, Any]) -> list[str]:
    return [str(m.content) for m in state["messages"]]


def test_graph_resumed_in_another_process_then_time_travel_and_fork(durable_url: str) -> None:
    thread = "chat/42 é"  # not a valid session id: mapped reversibly
    first = subprocess.run(
        [sys.executable, "-m", "tests.agents.langgraph_app", durable_url, thread],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "weather" in first.stdout
    with SessionManager(durable_url) as manager:
        saver = AgentSessionSaver(manager)
        graph = build(saver, [answer("It is sunny in Paris."), answer("Replayed.")])
        paused = graph.get_state(config(thread))
        assert paused.next == ("review",)
        assert paused.tasks[0].interrupts[0].value == {"tool": "weather", "args": {"city": "Paris"}}

        done = graph.invoke(Command(resume="approve"), config(thread))
        assert contents(done) == [
            "Weather in Paris?",
            "",
            "review: approve",
            "sunny in Paris",
            "It is sunny in Paris.",
        ]
        assert isinstance(done["messages"][3], ToolMessage)

        # The history, read back with the ordinary agentsession API too.
        history = list(graph.get_state_history(config(thread)))
        assert [len(h.values.get("messages", [])) for h in history] == [5, 4, 3, 2, 1, 0]
        session = manager.get(session_id_for(thread), user_id="alice")
        assert session.metadata["langgraph"] == {"thread_id": thread}
        points = [e for e in session.entries() if e.kind == "langgraph-checkpoint"]
        assert [e.data["checkpoint_id"] for e in points] == [
            h.config["configurable"]["checkpoint_id"] for h in reversed(history)
        ]
        for child, parent in zip(points[1:], points, strict=False):
            assert child.parent_id == parent.id
            assert child.data["parent_checkpoint_id"] == parent.data["checkpoint_id"]

        # Time travel: run again from the checkpoint after the tool step.
        after_tool = next(
            h for h in history if h.next == ("agent",) and len(h.values["messages"]) == 4
        )
        replay = graph.invoke(None, after_tool.config)
        assert contents(replay)[-1] == "Replayed."
        latest = graph.get_state(config(thread))
        assert contents(latest.values)[-1] == "Replayed."
        old_end = graph.get_state(history[0].config)
        assert contents(old_end.values)[-1] == "It is sunny in Paris."

        # Fork: update an old checkpoint; the new one hangs under it.
        forked = graph.update_state(
            history[-2].config, {"messages": [HumanMessage(content="Weather in Rome?", id="h2")]}
        )
        fork_state = graph.get_state(forked)
        assert contents(fork_state.values) == ["Weather in Paris?", "Weather in Rome?"]
        assert fork_state.parent_config is not None
        parent_id = history[-2].config["configurable"]["checkpoint_id"]
        assert fork_state.parent_config["configurable"]["checkpoint_id"] == parent_id
        entries = {e.id: e for e in manager.export_session(session.id).entries}
        fork_entry = next(
            e
            for e in entries.values()
            if e.data.get("checkpoint_id") == forked["configurable"]["checkpoint_id"]
        )
        assert entries[fork_entry.parent_id].data["checkpoint_id"] == parent_id  # type: ignore[index]
        leaves = {b.leaf_id for b in session.branches()}
        assert fork_entry.id in leaves and len(leaves) >= 3


@pytest.fixture
def manager(store_url: str) -> Iterator[SessionManager]:
    with SessionManager(store_url) as m:
        yield m


def test_a_foreign_thread_reads_as_unknown(manager: SessionManager) -> None:
    saver = AgentSessionSaver(manager)
    graph = build(saver, [ASK, ASK])
    graph.invoke(QUESTION, config("t1", "alice"))
    mine = saver.get_tuple(config("t1", "alice"))
    assert mine is not None and mine.config["configurable"]["user_id"] == "alice"
    anonymous: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    for cfg in (config("t1", "bob"), anonymous):
        assert saver.get_tuple(cfg) == saver.get_tuple(config("nope", "alice")) is None
        assert list(saver.list(cfg)) == list(saver.list(config("nope", "alice"))) == []
        assert graph.get_state(cfg).values == {}
    with pytest.raises(AccessDenied):
        graph.invoke(QUESTION, config("t1", "bob"))
    assert len(list(saver.list(config("t1", "alice")))) == 3
    # Another key names the user; None turns the check off.
    keyed = AgentSessionSaver(manager, user_key="account")
    assert keyed.get_tuple({"configurable": {"thread_id": "t1", "account": "alice"}}) is not None
    assert AgentSessionSaver(manager, user_key=None).get_tuple(
        {"configurable": {"thread_id": "t1"}}
    )


def test_thread_ids_map_to_session_ids() -> None:
    assert session_id_for("plain-id_1") == "plain-id_1"
    odd = session_id_for("user/1 é")
    assert odd.startswith("lgb_") and odd != session_id_for("user/1 e")
    assert session_id_for("lgb_x").startswith("lgb_") and session_id_for("lgb_x") != "lgb_x"
    long = session_id_for("x" * 200)
    assert long.startswith("lgh_") and len(long) <= 128


def test_values_are_stored_once_per_version(manager: SessionManager) -> None:
    saver = AgentSessionSaver(manager, user_key=None)
    base: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    big = "x" * 10_000
    cp1: Any = {
        "v": 4,
        "id": "1",
        "ts": datetime.now(UTC).isoformat(),
        "channel_values": {"doc": big, "n": 1},
        "channel_versions": {"doc": 1, "n": 1},
        "versions_seen": {},
        "updated_channels": None,
    }
    stored = saver.put(base, cp1, {"step": 0}, {"doc": 1, "n": 1})
    cp2: Any = {
        **cp1,
        "id": "2",
        "channel_values": {"doc": big, "n": 2},
        "channel_versions": {"doc": 1, "n": 2},
    }
    saver.put(stored, cp2, {"step": 1}, {"n": 2})
    entries = manager.get("t").entries()
    assert sorted(entries[1].data["blobs"]) == ["n"]
    assert entries[1].data["holders"] == {"doc": entries[0].id}
    assert len(str(entries[1].data)) < 1000
    got = saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})
    assert got is not None and got.checkpoint["channel_values"] == {"doc": big, "n": 2}
    # Pruned to the newest checkpoint: the value it held elsewhere moves in.
    saver.prune(["t"])
    [kept] = manager.get("t").entries()
    assert kept.parent_id is None and sorted(kept.data["blobs"]) == ["doc", "n"]
    again = saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})
    assert again is not None and again.checkpoint == got.checkpoint


def test_no_pickle() -> None:
    with pytest.raises(ValueError, match="pickle"):
        AgentSessionSaver("memory://", serde=JsonPlusSerializer(pickle_fallback=True))


def test_threads_expire_and_are_pruned(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    url = f"sqlite:///{tmp_path / 's.db'}"
    with SessionManager(url, idle_timeout=timedelta(minutes=5), clock=lambda: now[0]) as m:
        saver = AgentSessionSaver(m)
        build(saver, [ASK]).invoke(QUESTION, config("t"))
        assert saver.get_tuple(config("t")) is not None
        now[0] += timedelta(minutes=6)
        assert saver.get_tuple(config("t")) is None
        assert m.prune() == 1


@pytest.mark.asyncio
async def test_async_graph_interrupt_and_resume(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        saver = AgentSessionSaver(manager)
        graph = build(saver, [ASK, answer("Sunny.")])
        paused = await graph.ainvoke(QUESTION, config("a"))
        assert paused["__interrupt__"][0].value["tool"] == "weather"
        done = await graph.ainvoke(Command(resume="ok"), config("a"))
        assert contents(done)[-1] == "Sunny."
        assert isinstance(done["messages"][1], AIMessage)
        states = [s async for s in graph.aget_state_history(config("a"))]
        assert len(states) == 6
        assert await saver.aget_tuple(config("a", "eve")) is None


def test_concurrent_writers_without_a_shared_lock(durable_url: str) -> None:
    # Four savers (four managers: no lock in common, as in four processes)
    # write to one checkpoint at once: the compare-and-swap orders them.
    with SessionManager(durable_url) as first:
        saver = AgentSessionSaver(first, user_key=None)
        cp: Any = {
            "v": 4,
            "id": "1",
            "ts": datetime.now(UTC).isoformat(),
            "channel_values": {},
            "channel_versions": {},
            "versions_seen": {},
            "updated_channels": None,
        }
        stored = saver.put({"configurable": {"thread_id": "w", "checkpoint_ns": ""}}, cp, {}, {})

        def write(i: int) -> None:
            with SessionManager(durable_url) as manager:
                other = AgentSessionSaver(manager, user_key=None)
                for j in range(5):
                    other.put_writes(stored, [("ch", f"{i}-{j}")], f"task-{i}-{j}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(4)))
        got = saver.get_tuple(stored)
        assert got is not None
        assert sorted(w[2] for w in got.pending_writes or []) == sorted(
            f"{i}-{j}" for i in range(4) for j in range(5)
        )


class Notes(TypedDict):
    notes: list[str]


def test_a_subgraph_interrupt_resumes_in_its_namespace(manager: SessionManager) -> None:
    # The subgraph keeps its own checkpoints (namespace "sub"): resuming finds
    # its newest while the head is the parent graph's.
    def ask(state: Notes) -> dict[str, Any]:
        return {"notes": [*state["notes"], f"sub:{interrupt('more?')}"]}

    def before(state: Notes) -> dict[str, Any]:
        return {"notes": [*state["notes"], "before"]}

    inner = StateGraph(Notes)
    inner.add_node("ask", ask)
    inner.add_edge(START, "ask")
    outer = StateGraph(Notes)
    outer.add_node("before", before)
    outer.add_node("sub", inner.compile(checkpointer=True))
    outer.add_edge(START, "before")
    outer.add_edge("before", "sub")
    outer.add_edge("sub", END)
    graph = outer.compile(checkpointer=AgentSessionSaver(manager))
    cfg = config("nested")
    for turn in ("one", "two"):
        paused = graph.invoke({"notes": [turn]}, cfg)
        assert paused["__interrupt__"][0].value == "more?"
        done = graph.invoke(Command(resume=turn.upper()), cfg)
        assert done["notes"][-2:] == ["before", f"sub:{turn.upper()}"]
    namespaces = {e.data.get("checkpoint_ns") for e in manager.export_session("nested").entries}
    assert namespaces >= {"", "sub"}
