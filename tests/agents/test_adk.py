"""The Google ADK session service, driven by ADK's real ``Runner`` on a
scripted ``BaseLlm`` (canned replies with a tool call; no network), on every
store. ADK's own ``InMemorySessionService`` runs the same script as the
reference for what the runner sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.agents.conftest import need

need("google.adk", "adk")

from google.adk.agents import LlmAgent
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from pydantic import Field

from agentsession import AsyncSessionManager, InvalidInput
from agentsession.integrations.adk import AgentSessionService, session_key
from agentsession.testing import FakeClock

ROOT = Path(__file__).resolve().parents[2]
APP = "weather"


class ScriptedLlm(BaseLlm):
    """Answers each model call with the next canned response."""

    model: str = "scripted"
    replies: list[LlmResponse] = Field(default_factory=list)
    requests: list[LlmRequest] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        yield self.replies.pop(0)


def call(name: str, **args: Any) -> LlmResponse:
    part = types.Part(function_call=types.FunctionCall(name=name, args=args))
    return LlmResponse(content=types.Content(role="model", parts=[part]))


def say(text: str) -> LlmResponse:
    return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))


def weather(city: str, tool_context: ToolContext) -> str:
    """The weather in a city; remembers it in every scope of state."""
    tool_context.state["city"] = city
    tool_context.state["user:last_city"] = city
    tool_context.state["app:lookups"] = tool_context.state.get("app:lookups", 0) + 1
    tool_context.state["temp:scratch"] = "not kept"
    return f"sunny in {city}"


def runner_for(service: BaseSessionService, replies: list[LlmResponse]) -> Runner:
    model = ScriptedLlm(replies=replies, requests=[])
    agent = LlmAgent(name="front", model=model, tools=[weather])
    return Runner(agent=agent, app_name=APP, session_service=service)


def user_text(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


async def turn(runner: Runner, user: str, sid: str, text: str) -> list[Event]:
    return [
        e
        async for e in runner.run_async(user_id=user, session_id=sid, new_message=user_text(text))
        if not e.partial
    ]


def script() -> list[LlmResponse]:
    return [call("weather", city="Paris"), say("Sunny in Paris."), say("You asked about Paris.")]


def shape(events: list[Event]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        part = e.content.parts[0] if e.content and e.content.parts else None
        what = (
            f"call:{part.function_call.name}"
            if part and part.function_call
            else f"result:{part.function_response.name}"
            if part and part.function_response
            else f"text:{part.text}"
            if part
            else "none"
        )
        out.append((e.author, what))
    return out


async def converse(service: BaseSessionService, user: str = "ann") -> tuple[str, list[Event]]:
    runner = runner_for(service, script())
    session = await service.create_session(app_name=APP, user_id=user, state={"lang": "fr"})
    yielded = await turn(runner, user, session.id, "Weather in Paris?")
    yielded += await turn(runner, user, session.id, "What did I ask?")
    return session.id, yielded


@pytest_asyncio.fixture
async def service(store_url: str) -> AsyncIterator[AgentSessionService]:
    svc = AgentSessionService(store_url)
    yield svc
    await svc.close()


@pytest.mark.asyncio
async def test_a_runner_conversation_round_trips_like_adks_own_service(
    service: AgentSessionService,
) -> None:
    reference = InMemorySessionService()
    ref_id, _ = await converse(reference)
    expected = await reference.get_session(app_name=APP, user_id="ann", session_id=ref_id)
    assert expected is not None

    sid, yielded = await converse(service)
    got = await service.get_session(app_name=APP, user_id="ann", session_id=sid)
    assert got is not None
    # The events come back exactly as the runner yielded them (it yields
    # all but the user's), in order.
    assert [e for e in got.events if e.author != "user"] == yielded
    assert [e.author for e in got.events].count("user") == 2
    assert shape(got.events) == shape(expected.events)
    assert ("front", "call:weather") in shape(got.events)
    assert got.state == expected.state
    assert got.state == {
        "lang": "fr",
        "city": "Paris",
        "user:last_city": "Paris",
        "app:lookups": 1,
    }
    # The second model call saw the first turn, read back from the store.
    runner = runner_for(service, [say("Still Paris.")])
    await turn(runner, "ann", sid, "Again?")
    assert isinstance(runner.agent, LlmAgent) and isinstance(runner.agent.model, ScriptedLlm)
    seen = json.dumps([c.model_dump(mode="json") for c in runner.agent.model.requests[0].contents])
    assert "Weather in Paris?" in seen and "sunny in Paris" in seen


@pytest.mark.asyncio
async def test_state_prefixes_are_shared_as_adk_documents(service: AgentSessionService) -> None:
    first, _ = await converse(service, "ann")
    # A new session of ann sees user: and app: state, not the other's own state.
    second = await service.create_session(app_name=APP, user_id="ann", state={"temp:t": 1})
    assert second.state == {"user:last_city": "Paris", "app:lookups": 1}
    # bob shares the app state only; his own lookup counts on.
    bob = await service.create_session(app_name=APP, user_id="bob", state={"user:lang": "en"})
    assert bob.state == {"app:lookups": 1, "user:lang": "en"}
    runner = runner_for(service, [call("weather", city="Oslo"), say("Sunny in Oslo.")])
    await turn(runner, "bob", bob.id, "Oslo?")
    ann = await service.get_session(app_name=APP, user_id="ann", session_id=first)
    assert ann is not None
    assert ann.state["app:lookups"] == 2 and ann.state["user:last_city"] == "Paris"
    assert not any(k.startswith("temp:") for k in ann.state)
    assert await service.get_user_state(app_name=APP, user_id="bob") == {
        "lang": "en",
        "last_city": "Oslo",
    }
    # temp: state never reaches the stored events either.
    for e in ann.events:
        assert not any(k.startswith("temp:") for k in e.actions.state_delta)
    # Another app shares nothing.
    other = await service.create_session(app_name="other", user_id="ann")
    assert other.state == {}


class CountingStore:
    """Delegates to a store and records each ``read_path``'s kind and limit."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads: list[tuple[str | None, int | None, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read_path(self, session_id: str, **kw: Any) -> Any:
        info, entries = await self._store.read_path(session_id, **kw)
        self.reads.append((kw.get("kind"), kw.get("limit"), len(entries)))
        return info, entries


@pytest.mark.asyncio
async def test_recent_events_read_only_what_is_asked(store_url: str) -> None:
    clock = FakeClock()
    async with AsyncSessionManager(store_url, clock=clock) as plain:
        counting = CountingStore(plain.store)
        manager = plain.with_store(counting)
        service = AgentSessionService(manager)
        session = await service.create_session(app_name=APP, user_id="ann")
        stamps = []
        for i in range(30):
            clock.advance(timedelta(seconds=1))
            event = Event(author="user", content=user_text(f"m{i}"), timestamp=1000.0 + i)
            if i == 10:
                event.actions = EventActions(state_delta={"k": i})
            await service.append_event(session, event)
            stamps.append(event.timestamp)
        counting.reads.clear()
        got = await service.get_session(
            app_name=APP,
            user_id="ann",
            session_id=session.id,
            config=GetSessionConfig(num_recent_events=5),
        )
        assert got is not None and [e.timestamp for e in got.events] == stamps[-5:]
        assert got.state == {"k": 10}
        assert max(n for _, _, n in counting.reads) <= 5
        assert ("message", 5, 5) in counting.reads

        def after(ts: float, n: int | None = None) -> GetSessionConfig:
            return GetSessionConfig(after_timestamp=ts, num_recent_events=n)

        for config, want in (
            (after(1020.0), stamps[20:]),
            (after(1020.0, 3), stamps[-3:]),
            (after(999.0), stamps),
            (GetSessionConfig(num_recent_events=0), []),
        ):
            got = await service.get_session(
                app_name=APP, user_id="ann", session_id=session.id, config=config
            )
            assert got is not None and [e.timestamp for e in got.events] == want


@pytest.mark.asyncio
async def test_list_sessions_by_app_and_user_oldest_first(store_url: str) -> None:
    clock = FakeClock()
    async with AsyncSessionManager(store_url, clock=clock) as manager:
        service = AgentSessionService(manager)
        made = []
        for user in ("ann", "bob", "ann", "ann"):
            clock.advance(timedelta(seconds=1))
            made.append(await service.create_session(app_name=APP, user_id=user))
        await service.create_session(app_name="other", user_id="ann")
        # The runtime's own sessions under the same agent name are not ADK's.
        await manager.create(APP, user_id="ann")
        clock.advance(timedelta(seconds=1))
        await service.append_event(made[0], Event(author="user", content=user_text("hi")))
        anns = await service.list_sessions(app_name=APP, user_id="ann")
        assert [s.id for s in anns.sessions] == [made[2].id, made[3].id, made[0].id]
        assert all(s.events == [] and s.user_id == "ann" for s in anns.sessions)
        every = await service.list_sessions(app_name=APP)
        assert {s.id for s in every.sessions} == {s.id for s in made}
        times = [s.last_update_time for s in every.sessions]
        assert times == sorted(times)
        assert (await service.list_sessions(app_name=APP, user_id="eve")).sessions == []


@pytest.mark.asyncio
async def test_another_users_or_apps_session_is_an_unknown_one(
    service: AgentSessionService,
) -> None:
    sid, _ = await converse(service, "ann")
    mine = await service.get_session(app_name=APP, user_id="ann", session_id=sid)
    assert mine is not None
    for app, user in ((APP, "bob"), ("other", "ann"), (APP, "ann ")):
        assert await service.get_session(app_name=app, user_id=user, session_id=sid) is None
        assert await service.get_session(app_name=app, user_id=user, session_id="nope") is None
        await service.delete_session(app_name=app, user_id=user, session_id=sid)
        forged = mine.model_copy(update={"app_name": app, "user_id": user, "events": []})
        with pytest.raises(SessionNotFoundError) as foreign:
            await service.append_event(forged, Event(author="user", content=user_text("x")))
        unknown = mine.model_copy(update={"app_name": app, "user_id": user, "id": "nope"})
        with pytest.raises(SessionNotFoundError) as missing:
            await service.append_event(unknown, Event(author="user", content=user_text("x")))
        assert str(foreign.value) == str(missing.value).replace("nope", sid)
    # ADK session ids are per user: bob may use ann's id for his own session.
    bobs = await service.create_session(app_name=APP, user_id="bob", session_id=sid)
    assert bobs.events == [] and "city" not in bobs.state
    again = await service.get_session(app_name=APP, user_id="ann", session_id=sid)
    assert again is not None and again.events == mine.events
    with pytest.raises(AlreadyExistsError):
        await service.create_session(app_name=APP, user_id="ann", session_id=sid)
    await service.delete_session(app_name=APP, user_id="ann", session_id=sid)
    assert await service.get_session(app_name=APP, user_id="ann", session_id=sid) is None
    assert await service.get_session(app_name=APP, user_id="bob", session_id=sid) is not None


@pytest.mark.asyncio
async def test_ids_agentsession_refuses_are_hashed(service: AgentSessionService) -> None:
    app, user, sid = "my app ü", "u" * 300, "a session/id with spaces"
    made = await service.create_session(app_name=app, user_id=user, session_id=sid)
    assert made.id == sid
    await service.append_event(made, Event(author="user", content=user_text("hi")))
    got = await service.get_session(app_name=app, user_id=user, session_id=sid)
    assert got is not None and len(got.events) == 1 and got.app_name == app
    listed = await service.list_sessions(app_name=app, user_id=user)
    assert [(s.id, s.user_id) for s in listed.sessions] == [(sid, user)]
    assert session_key(app, user, sid).startswith("adk-")


@pytest.mark.asyncio
async def test_a_stale_copy_is_refused(service: AgentSessionService) -> None:
    made = await service.create_session(app_name=APP, user_id="ann")
    one = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
    two = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
    assert one is not None and two is not None
    await service.append_event(one, Event(author="user", content=user_text("first")))
    event = Event(author="user", content=user_text("second"))
    event.actions = EventActions(state_delta={"app:x": 1, "user:y": 2})
    with pytest.raises(StaleSessionError):
        await service.append_event(two, event)
    # Refused whole: neither the event nor its shared state change is stored.
    got = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
    assert got is not None and len(got.events) == 1
    assert "app:x" not in got.state and "user:y" not in got.state


class Crash(Exception):
    """The process dies at this store call."""


def dying_store(manager: AsyncSessionManager, dies: Callable[[str], bool]) -> Callable[[], None]:
    """Make the store's ``append`` die once, at the first call that ``dies``
    picks by session id; returns a function that heals it."""
    real = manager.store.append
    died: list[str] = []

    async def append(session_id: str, entries: Any, **kw: Any) -> Any:
        if not died and dies(session_id):
            died.append(session_id)
            raise Crash
        return await real(session_id, entries, **kw)

    manager.store.append = append  # type: ignore[method-assign]

    def heal() -> None:
        manager.store.append = real  # type: ignore[method-assign]

    return heal


def shared_event(value: int) -> Event:
    event = Event(author="user", content=user_text(f"set {value}"))
    event.actions = EventActions(state_delta={"app:v": value, "user:v": value, "own": value})
    return event


@pytest.mark.asyncio
async def test_a_crash_after_the_event_keeps_its_state_change(store_url: str) -> None:
    async with AsyncSessionManager(store_url) as manager:
        service = AgentSessionService(manager)
        made = await service.create_session(app_name=APP, user_id="ann")
        key = session_key(APP, "ann", made.id)
        committed: list[bool] = []

        def after_the_commit(session_id: str) -> bool:
            """The first append after the event's own (a ledger's fold)."""
            if committed:
                return True
            committed.extend([True] if session_id == key else [])
            return False

        heal = dying_store(manager, after_the_commit)
        with pytest.raises(Crash):
            await service.append_event(made, shared_event(1))
        heal()
        # Another process: the event is recorded, so its change is seen everywhere.
        other = AgentSessionService(manager)
        got = await other.get_session(app_name=APP, user_id="ann", session_id=made.id)
        assert got is not None and len(got.events) == 1
        assert (got.state["app:v"], got.state["user:v"], got.state["own"]) == (1, 1, 1)
        fresh = await other.create_session(app_name=APP, user_id="ann")
        assert (fresh.state["app:v"], fresh.state["user:v"]) == (1, 1)
        await other.append_event(got, shared_event(2))
        assert await other.get_user_state(app_name=APP, user_id="ann") == {"v": 2}


@pytest.mark.asyncio
async def test_a_crash_before_the_event_leaves_no_state_change(store_url: str) -> None:
    clock = FakeClock()
    async with AsyncSessionManager(store_url, clock=clock) as manager:
        service = AgentSessionService(manager, pending_timeout=timedelta(seconds=30))
        made = await service.create_session(app_name=APP, user_id="ann")
        writer = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
        assert writer is not None
        heal = dying_store(manager, lambda sid: sid == session_key(APP, "ann", made.id))
        with pytest.raises(Crash):
            await service.append_event(writer, shared_event(1))
        heal()
        # The intent is open: no reader applies it.
        other = AgentSessionService(manager, pending_timeout=timedelta(seconds=30))
        got = await other.get_session(app_name=APP, user_id="ann", session_id=made.id)
        assert got is not None and got.events == [] and "app:v" not in got.state
        # Past the timeout a reader fences it: the stalled writer can no
        # longer commit, so the change can never appear without its event.
        clock.advance(timedelta(minutes=1))
        assert await other.get_user_state(app_name=APP, user_id="ann") == {}
        late = Event(author="user", content=user_text("late"))
        with pytest.raises(StaleSessionError):
            await service.append_event(writer, late)
        got = await other.get_session(app_name=APP, user_id="ann", session_id=made.id)
        assert got is not None and got.events == [] and "app:v" not in got.state
        # A fresh copy writes on.
        await other.append_event(got, shared_event(3))
        again = await other.get_session(app_name=APP, user_id="ann", session_id=made.id)
        assert again is not None and again.state["app:v"] == 3 and len(again.events) == 1


@pytest.mark.asyncio
async def test_rewind_rolls_session_state_back(service: AgentSessionService) -> None:
    runner = runner_for(
        service, [say("one"), call("weather", city="Rome"), say("Sunny in Rome."), say("three")]
    )
    session = await service.create_session(app_name=APP, user_id="ann")
    first = await turn(runner, "ann", session.id, "hello")
    second = await turn(runner, "ann", session.id, "Rome?")
    assert second[-1].content is not None
    before = await service.get_session(app_name=APP, user_id="ann", session_id=session.id)
    assert before is not None and before.state["city"] == "Rome"
    await runner.rewind_async(
        user_id="ann", session_id=session.id, rewind_before_invocation_id=second[0].invocation_id
    )
    after = await service.get_session(app_name=APP, user_id="ann", session_id=session.id)
    assert after is not None and after.state.get("city") is None
    assert after is not None and after.events[-1].actions.rewind_before_invocation_id
    assert first[0].invocation_id != second[0].invocation_id
    await turn(runner, "ann", session.id, "and now?")
    assert isinstance(runner.agent, LlmAgent) and isinstance(runner.agent.model, ScriptedLlm)
    seen = json.dumps([c.model_dump(mode="json") for c in runner.agent.model.requests[-1].contents])
    assert "hello" in seen and "Rome?" not in seen


CHILD = """
import asyncio, json, sys
from tests.agents.test_adk import APP, AgentSessionService, runner_for, say, turn

async def main(url, sid):
    service = AgentSessionService(url)
    runner = runner_for(service, [say("I remember Paris.")])
    out = await turn(runner, "ann", sid, "Where was it?")
    seen = runner.agent.model.requests[0].contents
    got = await service.get_session(app_name=APP, user_id="ann", session_id=sid)
    await service.close()
    print(json.dumps({"out": out[-1].content.parts[0].text, "turns": len(seen),
                      "state": got.state}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.asyncio
async def test_a_second_process_resumes_the_session(durable_url: str) -> None:
    service = AgentSessionService(durable_url)
    sid, yielded = await converse(service)
    await service.close()
    # A child process: nothing of this one's service or caches is shared.
    child_process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        durable_url,
        sid,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(child_process.communicate(), 120)
    assert child_process.returncode == 0, err.decode()
    child = json.loads(out.decode().strip().splitlines()[-1])
    assert child["out"] == "I remember Paris."
    assert child["turns"] >= len(yielded)
    assert child["state"]["user:last_city"] == "Paris" and child["state"]["app:lookups"] == 1
    again = AgentSessionService(durable_url)
    got = await again.get_session(app_name=APP, user_id="ann", session_id=sid)
    await again.close()
    assert got is not None
    assert [e for e in got.events if e.author != "user"][: len(yielded)] == yielded


@pytest.mark.asyncio
async def test_concurrent_shared_writes_lose_nothing(service: AgentSessionService) -> None:
    sessions = [await service.create_session(app_name=APP, user_id=f"u{i % 2}") for i in range(6)]

    async def write(i: int) -> None:
        event = Event(author="user", content=user_text(f"w{i}"))
        event.actions = EventActions(state_delta={f"app:k{i}": i, f"user:k{i}": i})
        await service.append_event(sessions[i], event)

    await asyncio.gather(*(write(i) for i in range(6)))
    one = await service.get_session(app_name=APP, user_id="u0", session_id=sessions[0].id)
    assert one is not None
    assert {k: v for k, v in one.state.items() if k.startswith("app:")} == {
        f"app:k{i}": i for i in range(6)
    }
    assert await service.get_user_state(app_name=APP, user_id="u1") == {
        f"k{i}": i for i in (1, 3, 5)
    }


@pytest.mark.asyncio
async def test_state_values_are_stored_as_json_data(service: AgentSessionService) -> None:
    made = await service.create_session(app_name=APP, user_id="ann")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = Event(author="user", content=user_text("when"))
    event.actions = EventActions(state_delta={"at": when, "user:at": when})
    await service.append_event(made, event)
    got = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
    assert got is not None
    assert got.state["at"] == got.state["user:at"] == "2026-01-02T03:04:05Z"
    bad = Event(author="user", content=user_text("nan"))
    for delta in ({"x": float("nan")}, {"app:x": 1, "user:x": float("inf")}):
        bad.actions = EventActions(state_delta=delta)
        with pytest.raises(InvalidInput):
            await service.append_event(got, bad)
    again = await service.get_session(app_name=APP, user_id="ann", session_id=made.id)
    assert again is not None and len(again.events) == 1
