"""Audit events: exactly one per mutating call and per refused read, no content."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from agentsession import (
    AccessDenied,
    AsyncSessionManager,
    AuditEvent,
    InvalidInput,
    LimitExceeded,
    SessionManager,
    SessionNotFound,
)
from agentsession._audit import request_scope
from agentsession.stores import AsyncMemoryStore, MemoryStore

SECRET = "the-secret-content-7f3a"


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def __call__(self, event: AuditEvent) -> None:
        self.events.append(event)

    def take(self) -> list[tuple[str, str]]:
        got = [(e.action, e.outcome) for e in self.events]
        self.events.clear()
        return got


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def manager(sink: Sink) -> SessionManager:
    return SessionManager(MemoryStore(), audit=sink)


CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("append", lambda s: s.append({"role": "user", "content": SECRET})),
    ("extend", lambda s: s.extend([{"role": "user", "content": SECRET}] * 2)),
    ("append_entry", lambda s: s.append_entry("note", {"text": SECRET})),
    ("append_entries", lambda s: s.append_entries("note", [{"text": SECRET}])),
    ("update_state", lambda s: s.update_state({"secret": SECRET})),
    ("update_metadata", lambda s: s.update_metadata({"secret": SECRET})),
    ("checkpoint", lambda s: s.checkpoint("cp", {"secret": SECRET})),
    ("restore", lambda s: s.restore(s.checkpoints()[0].id)),
    ("switch", lambda s: s.switch(s.entries()[0].id)),
    ("compact", lambda s: s.compact(SECRET, upto=s.entries()[0].id)),
    ("replace_messages", lambda s: s.replace_messages([{"role": "user", "content": SECRET}])),
    ("pop", lambda s: s.pop()),
    ("clear", lambda s: s.clear()),
    ("turn", lambda s: s.run(lambda text, session: f"echo {text}", SECRET)),
]


def test_every_mutating_call_is_one_event_without_content(
    manager: SessionManager, sink: Sink
) -> None:
    s = manager.create("bot", user_id="ann", metadata={"secret": SECRET})
    assert sink.take() == [("create", "ok")]
    s.append({"role": "user", "content": "first"})
    s.checkpoint()
    sink.take()
    for action, call in CALLS:
        call(s)
        events = list(sink.events)
        assert sink.take() == [(action, "ok")], action
        (event,) = events
        assert (event.session_id, event.user_id, event.agent) == (s.id, "ann", "bot")
        assert SECRET not in repr(event), action
    # Reads are not reported.
    s.messages()
    s.entries()
    s.state()
    s.branches()
    manager.list(user_id="ann")
    assert sink.take() == []
    rotated = manager.rotate_id(s.id)
    assert sink.take() == [("rotate_id", "ok")]
    assert manager.delete(rotated.id)
    assert sink.take() == [("delete", "ok")]
    assert sink.events == []


def test_counts_and_ids_are_in_the_detail(manager: SessionManager, sink: Sink) -> None:
    s = manager.create("bot")
    s.extend([{"role": "user", "content": "a"}] * 3)
    point = s.checkpoint()
    s.restore(point.id)
    extend, checkpoint, restore = sink.events[1:]
    assert extend.detail == {"entries": 3}
    assert checkpoint.detail == restore.detail == {"checkpoint_id": point.id}


def test_a_turn_is_one_event_even_with_its_auto_checkpoint(sink: Sink) -> None:
    manager = SessionManager(MemoryStore(), audit=sink, checkpoint_every=timedelta(microseconds=1))
    s = manager.create("bot")
    sink.take()
    turn = s.run(lambda text, session: "reply", "hello")
    assert sink.take() == [("turn", "ok")]
    assert len(s.checkpoints()) == 1  # taken, inside the turn's event
    assert sink.events == [] and len(turn.output) == 1


def test_refused_reads_are_reported_unknown_or_foreign_alike(
    manager: SessionManager, sink: Sink
) -> None:
    mine = manager.create("bot", user_id="ann")
    sink.take()
    with pytest.raises(AccessDenied):
        manager.get(mine.id, user_id="bob")
    with pytest.raises(SessionNotFound):
        manager.get("no-such-session-000000", user_id="bob")
    assert manager.find(mine.id, user_id="ann") is not None  # allowed: silent
    foreign, unknown = sink.events
    assert (foreign.action, foreign.outcome, foreign.user_id) == ("get", "AccessDenied", "bob")
    assert (unknown.action, unknown.outcome) == ("get", "SessionNotFound")
    assert foreign.session_id == mine.id and foreign.agent is None
    sink.take()
    with pytest.raises(AccessDenied):
        manager.attach(mine.id, "bot", user_id="bob")
    assert sink.take() == [("get", "AccessDenied")]  # one, from inside attach


def test_a_failed_write_is_reported_with_its_error(manager: SessionManager, sink: Sink) -> None:
    s = manager.create("bot", max_messages=1)
    s.append({"role": "user", "content": "one"})
    sink.take()
    with pytest.raises(LimitExceeded):
        s.append({"role": "user", "content": "two"})
    assert sink.take() == [("append", "LimitExceeded")]


def test_prune_and_import_are_reported(sink: Sink) -> None:
    manager = SessionManager(MemoryStore(), audit=sink, ttl=timedelta(seconds=30))
    s = manager.create("bot")
    export = manager.export_session(s.id)
    manager.delete(s.id)
    manager.import_session(export)
    sink.take()
    assert manager.prune() == 0
    (prune,) = sink.events
    assert (prune.action, prune.session_id, prune.detail) == ("prune", None, {"erased": 0})


def test_hashed_ids_and_the_logger(caplog: pytest.LogCaptureFixture) -> None:
    manager = SessionManager(MemoryStore(), audit=True, audit_ids="hashed")
    with caplog.at_level(logging.INFO, logger="agentsession.audit"):
        s = manager.create("bot", user_id="ann")
    (record,) = caplog.records
    hashed = hashlib.sha256(s.id.encode()).hexdigest()
    assert record.audit["session_id"] == hashed  # type: ignore[attr-defined]
    assert record.audit["action"] == "create"  # type: ignore[attr-defined]
    assert s.id not in record.getMessage()


def test_twins_carry_the_audit_options(manager: SessionManager, sink: Sink) -> None:
    twin = manager.with_store(MemoryStore())
    twin.create("bot")
    assert sink.take() == [("create", "ok")]


def test_the_web_request_is_added(manager: SessionManager, sink: Sink) -> None:
    with request_scope("POST", "/chat", "203.0.113.9"):
        manager.create("bot")
    (event,) = sink.events
    assert event.detail == {"method": "POST", "path": "/chat", "remote": "203.0.113.9"}


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidInput):
        SessionManager(MemoryStore(), audit="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        SessionManager(MemoryStore(), audit=True, audit_ids="plain")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_async_twin_reports_the_same(sink: Sink) -> None:
    manager = AsyncSessionManager(AsyncMemoryStore(), audit=sink)
    s = await manager.create("bot", user_id="ann")
    await s.append({"role": "user", "content": "hi"})
    await s.run(lambda text, session: "reply", "hello")
    with pytest.raises(AccessDenied):
        await manager.get(s.id, user_id="bob")
    assert sink.take() == [
        ("create", "ok"),
        ("append", "ok"),
        ("turn", "ok"),
        ("get", "AccessDenied"),
    ]
