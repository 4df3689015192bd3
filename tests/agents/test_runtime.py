"""The agent runtime on every store: agent shapes, atomic turns, turn ids,
checkpointable agents and the owner rules of ``call_with_session``.

The atomicity tests are written so that a runtime committing a turn in two
steps (the input first, the outputs later) fails them: each checks that a
turn that did not finish left the session exactly as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest

from agentsession import (
    AccessDenied,
    AgentSessionError,
    AsyncSession,
    AsyncSessionManager,
    Checkpointable,
    ConflictError,
    InvalidInput,
    Session,
    SessionAware,
    SessionManager,
    current_session,
)
from agentsession.testing import FakeClock


async def _snapshot(s: AsyncSession) -> tuple[int, str | None, list[Any]]:
    info = await s.refresh()
    return info.revision, info.head, [e.data for e in await s.entries()]


async def echo(input: Any, session: AsyncSession) -> str:
    seen = await session.messages()
    return f"echo {input} after {len(seen)}"


# -- agent shapes ---------------------------------------------------------------


class Recorder:
    """A SessionAware agent object, sync."""

    def __init__(self) -> None:
        self.calls = 0

    def execute_with_session(self, input: Any, session: Any) -> list[Any]:
        self.calls += 1
        assert current_session() is session
        return [{"role": "assistant", "tool_calls": [{"name": "f"}]}, {"role": "tool"}, "ok"]


@pytest.mark.asyncio
async def test_every_agent_shape_records_one_turn(store_url: str) -> None:
    async def async_gen(input: Any, session: AsyncSession) -> AsyncIterator[Any]:
        assert current_session() is session
        yield "Hel"
        yield "lo"
        yield {"role": "tool", "content": "42"}

    def sync_gen(input: Any, session: AsyncSession) -> Iterator[str]:
        assert current_session() is session
        yield from ("a", "b")

    class AsyncAware:
        async def execute_with_session(self, input: Any, session: Any) -> str:
            return "aware"

    assert isinstance(Recorder(), SessionAware)
    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        results = [
            await s.run(echo, "one"),
            await s.run(async_gen, {"role": "user", "content": "two"}),
            await s.run(sync_gen, "three"),
            await s.run(Recorder(), ["four", {"role": "user", "content": "five"}]),
            await s.run(AsyncAware(), "six"),
        ]
        assert [t.reply for t in results] == ["echo one after 0", "Hello", "ab", "ok", "aware"]
        assert [len(t.input) for t in results] == [1, 1, 1, 2, 1]
        assert [len(t.output) for t in results] == [1, 2, 1, 3, 1]
        assert [e.data for e in results[1].output] == [
            {"role": "assistant", "content": "Hello"},
            {"role": "tool", "content": "42"},
        ]
        stored = [e.data for e in await s.messages()]
        assert stored == [d.data for t in results for d in t.entries]
        assert len(stored) == 14 and (await s.refresh()).revision == 5


@pytest.mark.asyncio
async def test_a_stream_hands_chunks_over_as_they_come(store_url: str) -> None:
    seen_by_agent: list[int] = []

    async def agent(input: Any, session: AsyncSession) -> AsyncIterator[str]:
        for word in ("one ", "two ", "three"):
            seen_by_agent.append(len(await session.messages()))
            yield word

    async with AsyncSessionManager(store_url) as m:
        stream = await m.stream_with_session(agent, "count", user_id="ann")
        got = []
        async for chunk in stream:
            got.append(chunk)
            # Nothing is stored while the agent is still speaking.
            assert (await m.list(user_id="ann"))[0].message_count == 0
        assert got == ["one ", "two ", "three"] and seen_by_agent == [0, 0, 0]
        assert stream.turn.reply == "one two three"
        s = await m.get(stream.turn.session_id, user_id="ann")
        assert [e.data["content"] for e in await s.messages()] == ["count", "one two three"]


@pytest.mark.asyncio
async def test_the_turn_is_read_only_after_the_stream_ends(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as m:
        stream = await (await m.create("bot")).stream(echo, "x")
        with pytest.raises(AgentSessionError, match="read to the end"):
            _ = stream.turn


def test_the_sync_runtime_runs_sync_agents_and_refuses_async_ones(tmp_path: Any) -> None:
    def agent(input: Any, session: Session) -> Iterator[str]:
        assert current_session() is session
        yield f"{input}!"

    async def async_agent(input: Any, session: Any) -> str:
        return "never"

    with SessionManager(f"sqlite:///{tmp_path / 's.db'}") as m:
        turn = m.call_with_session(agent, "hi", user_id="ann", agent_name="shouter")
        s = m.get(turn.session_id, user_id="ann")
        assert s.agent == "shouter" and turn.reply == "hi!"
        with pytest.raises(TypeError, match="AsyncSession"):
            s.run(async_agent, "x")
        assert [e.data["content"] for e in s.messages()] == ["hi", "hi!"]
        stream = s.stream(agent, "yo")
        assert list(stream) == ["yo!"] and stream.turn.reply == "yo!"


# -- bad agents and bad input: nothing written ------------------------------------


@pytest.mark.asyncio
async def test_bad_input_or_output_writes_nothing(store_url: str) -> None:
    async def returns_object(input: Any, session: Any) -> object:
        return object()

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        await s.run(echo, "first")
        before = await _snapshot(s)
        with pytest.raises(InvalidInput):
            await s.run(echo, {"role": "user", "content": {1, 2}})
        with pytest.raises(InvalidInput, match="an agent's output"):
            await s.run(returns_object, "x")
        with pytest.raises(TypeError, match="not an agent"):
            await s.run(42, "x")
        with pytest.raises(InvalidInput, match="on_conflict"):
            await s.run(echo, "x", on_conflict="merge")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="turn_id"):
            await s.run(echo, "x", turn_id="")
        assert await _snapshot(s) == before


@pytest.mark.asyncio
async def test_an_agent_that_raises_writes_nothing_by_default(store_url: str) -> None:
    async def broken(input: Any, session: Any) -> AsyncIterator[str]:
        yield "partial "
        raise RuntimeError("model down")

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        await s.run(echo, "first")
        before = await _snapshot(s)
        with pytest.raises(RuntimeError, match="model down"):
            await s.run(broken, "second")
        assert await _snapshot(s) == before


@pytest.mark.asyncio
async def test_record_errors_writes_the_input_and_an_error_in_one_write(store_url: str) -> None:
    def broken(input: Any, session: Any) -> str:
        raise ValueError("bad tool")

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        revision = (await s.refresh()).revision
        with pytest.raises(ValueError, match="bad tool"):
            await s.run(broken, "go", record_errors=True)
        entries = await s.entries()
        assert [(e.kind, e.data) for e in entries] == [
            ("message", {"role": "user", "content": "go"}),
            ("error", {"type": "ValueError", "message": "bad tool"}),
        ]
        assert (await s.refresh()).revision == revision + 1


@pytest.mark.asyncio
async def test_a_failed_recording_never_hides_the_agents_error(store_url: str) -> None:
    async def meddling(input: Any, session: AsyncSession) -> str:
        await session.append({"role": "user", "content": "written meanwhile"})
        raise ValueError("bad tool")

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        # Recording the error conflicts (the head moved): the ValueError is raised.
        with pytest.raises(ValueError, match="bad tool"):
            await s.run(meddling, "go", record_errors=True)
        assert [e.data["content"] for e in await s.entries()] == ["written meanwhile"]


@pytest.mark.asyncio
async def test_a_cancelled_turn_writes_nothing(store_url: str) -> None:
    started = asyncio.Event()

    async def slow(input: Any, session: Any) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        await s.run(echo, "first")
        before = await _snapshot(s)
        task = asyncio.create_task(s.run(slow, "second"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _snapshot(s) == before


@pytest.mark.asyncio
async def test_an_abandoned_stream_writes_nothing_and_stops_the_agent(store_url: str) -> None:
    closed = []

    async def talker(input: Any, session: Any) -> AsyncIterator[str]:
        try:
            for i in range(100):
                yield str(i)
        finally:
            closed.append(True)

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        before = await _snapshot(s)
        stream = await s.stream(talker, "count")
        async for chunk in stream:
            if chunk == "2":
                break
        await stream.aclose()
        async with await s.stream(talker, "again") as second:
            assert await anext(second) == "0"
        assert closed == [True, True]
        assert await _snapshot(s) == before


# -- concurrency and turn ids -----------------------------------------------------


async def _two_at_once(s1: AsyncSession, s2: AsyncSession, **options: Any) -> list[Any]:
    """Run a turn on each handle, both agents released only once both have
    started: both turns start from the same head."""
    gate = asyncio.Barrier(2)

    async def agent(input: Any, session: Any) -> str:
        await gate.wait()
        return f"reply to {input}"

    return list(
        await asyncio.gather(
            s1.run(agent, "A", **options), s2.run(agent, "B", **options), return_exceptions=True
        )
    )


@pytest.mark.asyncio
async def test_two_concurrent_turns_one_conflicts_and_writes_nothing(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        twin = await m.get(s.id)
        results = await _two_at_once(s, twin)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 1 and isinstance(failed[0], ConflictError)
        winner = next(r for r in results if not isinstance(r, BaseException))
        contents = [e.data["content"] for e in await s.messages()]
        assert contents == [e.data["content"] for e in winner.entries]
        assert len(await s.branches()) == 1


@pytest.mark.asyncio
async def test_on_conflict_append_writes_both_turns_whole(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        twin = await m.get(s.id)
        results = await _two_at_once(s, twin, on_conflict="append")
        assert not [r for r in results if isinstance(r, BaseException)]
        contents = [e.data["content"] for e in await s.messages()]
        # Each turn stays contiguous: its input directly followed by its reply.
        assert sorted(zip(contents[::2], contents[1::2], strict=True)) == [
            ("A", "reply to A"),
            ("B", "reply to B"),
        ]


@pytest.mark.asyncio
async def test_a_retried_turn_id_returns_the_stored_turn(store_url: str) -> None:
    calls = []

    async def agent(input: Any, session: Any) -> list[Any]:
        calls.append(input)
        return ["thinking", {"role": "assistant", "content": f"done {len(calls)}"}]

    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        first = await s.run(agent, "pay invoice 7", turn_id="req-7")
        await s.run(agent, "something else")
        again = await s.run(agent, "pay invoice 7", turn_id="req-7")
        assert calls == ["pay invoice 7", "something else"]
        assert again.replayed and not first.replayed and again.turn_id == "req-7"
        assert [e.id for e in again.entries] == [e.id for e in first.entries]
        assert again.reply == first.reply == "done 1"
        contents = [e.data["content"] for e in await s.messages()]
        assert contents.count("pay invoice 7") == 1 and len(contents) == 6
        # The key names that input: reusing it for another is a conflict.
        before = await _snapshot(s)
        with pytest.raises(ConflictError, match="different input"):
            await s.run(agent, "pay invoice 8", turn_id="req-7")
        # A stream of a stored turn replays its outputs without the agent.
        replay = await s.stream(agent, "pay invoice 7", turn_id="req-7")
        assert [c async for c in replay] == [dict(e.data) for e in first.output]
        assert replay.turn.replayed and await _snapshot(s) == before
        assert len(calls) == 2


@pytest.mark.asyncio
async def test_concurrent_retries_of_one_turn_id_write_it_once(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as m:
        s = await m.create("bot")
        twin = await m.get(s.id)
        gate = asyncio.Barrier(2)

        async def agent(input: Any, session: Any) -> str:
            await gate.wait()
            return "charged"

        one, two = await asyncio.gather(
            s.run(agent, "charge", turn_id="idem-1"), twin.run(agent, "charge", turn_id="idem-1")
        )
        assert sorted([one.replayed, two.replayed]) == [False, True]
        assert [e.id for e in one.entries] == [e.id for e in two.entries]
        assert [e.data["content"] for e in await s.messages()] == ["charge", "charged"]


# -- sessions found by call_with_session ------------------------------------------


@pytest.mark.asyncio
async def test_call_with_session_applies_the_owner_rules(store_url: str) -> None:
    calls = []

    async def agent(input: Any, session: Any) -> str:
        calls.append(input)
        return "ok"

    async with AsyncSessionManager(store_url) as m:
        mine = await m.call_with_session(agent, "hello", user_id="ann")
        assert (await m.get(mine.session_id)).user_id == "ann"
        assert (await m.get(mine.session_id)).agent == "agent"
        before = await _snapshot(await m.get(mine.session_id))
        for intruder in ("bob", None):
            with pytest.raises(AccessDenied):
                await m.call_with_session(
                    agent, "steal", session_id=mine.session_id, user_id=intruder
                )
        assert calls == ["hello"]
        assert await _snapshot(await m.get(mine.session_id)) == before
        again = await m.call_with_session(agent, "more", session_id=mine.session_id, user_id="ann")
        assert again.session_id == mine.session_id and calls == ["hello", "more"]


# -- checkpointable agents --------------------------------------------------------


class Counter:
    """A Checkpointable agent: it counts the turns it has taken."""

    name = "counter bot"

    def __init__(self) -> None:
        self.turns = 0

    def execute_with_session(self, input: Any, session: Any) -> str:
        self.turns += 1
        return f"turn {self.turns}"

    def create_checkpoint(self) -> Mapping[str, Any]:
        return {"turns": self.turns}

    def restore_from_checkpoint(self, state: Mapping[str, Any]) -> None:
        self.turns = state["turns"]


@pytest.mark.asyncio
async def test_a_checkpoint_keeps_the_agents_state_and_restore_hands_it_back(
    store_url: str,
) -> None:
    agent = Counter()
    assert isinstance(agent, Checkpointable)
    async with AsyncSessionManager(store_url) as m:
        first = await m.call_with_session(agent, "a")
        s = await m.get(first.session_id)
        assert s.agent == "counter-bot"
        point = await s.checkpoint("after-one", agent=agent)
        assert point.metadata == {"agent_state": {"turns": 1}}
        await s.run(agent, "b")
        await s.run(agent, "c")
        assert agent.turns == 3
        restored = await s.restore(point.id, agent=agent)
        assert agent.turns == 1 and restored.metadata["agent_state"] == {"turns": 1}
        assert [e.data["content"] for e in await s.messages()] == ["a", "turn 1"]
        # A checkpoint without agent state: refused before the head moves.
        plain = await s.checkpoint("plain")
        await s.run(agent, "d")
        before = await _snapshot(s)
        with pytest.raises(InvalidInput, match="no agent state"):
            await s.restore(plain.id, agent=agent)
        with pytest.raises(TypeError, match="not Checkpointable"):
            await s.restore(plain.id, agent=object())  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="agent_state"):
            await s.checkpoint(metadata={"agent_state": 1}, agent=agent)
        assert await _snapshot(s) == before and agent.turns == 2


@pytest.mark.asyncio
async def test_checkpoint_every_saves_the_agent_through_call_with_session(
    store_url: str,
) -> None:
    clock = FakeClock()
    agent = Counter()
    async with AsyncSessionManager(
        store_url, checkpoint_every=timedelta(minutes=5), clock=clock
    ) as m:
        turn = await m.call_with_session(agent, "a", agent_name="counter")
        clock.advance(timedelta(minutes=6))
        await m.call_with_session(agent, "b", session_id=turn.session_id)
        s = await m.get(turn.session_id)
        (auto,) = await s.checkpoints()
        assert auto.name == "auto" and auto.metadata == {"agent_state": {"turns": 2}}
        assert auto.entry_id == s.head


# -- sessions the application names ------------------------------------------------


@pytest.mark.asyncio
async def test_attach_creates_finds_refuses_and_reuses_an_expired_id(store_url: str) -> None:
    clock = FakeClock()
    async with AsyncSessionManager(store_url, idle_timeout=timedelta(hours=1), clock=clock) as m:
        made = await m.attach("thread-1", "bot", user_id="ann")
        assert (made.id, made.user_id, made.agent) == ("thread-1", "ann", "bot")
        await made.append({"role": "user", "content": "hi"})
        again = await m.attach("thread-1", "other", user_id="ann")
        assert again.agent == "bot" and again.message_count == 1
        for intruder in ("bob", None):
            with pytest.raises(AccessDenied):
                await m.attach("thread-1", "bot", user_id=intruder)
        assert (await m.get("thread-1")).message_count == 1
        clock.advance(timedelta(hours=2))
        fresh = await m.attach("thread-1", "bot", user_id="bob")
        assert fresh.user_id == "bob" and fresh.message_count == 0
        concurrent = await asyncio.gather(*(m.attach("thread-2", "bot") for _ in range(5)))
        assert {s.id for s in concurrent} == {"thread-2"}
