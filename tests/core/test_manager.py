"""Manager and session behaviour that does not depend on the store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from agentsession import ConflictError, InvalidInput, LimitExceeded, SessionManager, StoreClosed
from agentsession.testing import FakeClock


def test_defaults_are_validated() -> None:
    bad_defaults: list[dict[str, Any]] = [
        {"ttl": timedelta(0)},
        {"idle_timeout": timedelta(seconds=-1)},
        {"checkpoint_every": 300},
        {"checkpoint_every": timedelta(0)},
        {"ttl": 3600.0},
        {"max_messages": 0},
        {"max_messages": -3},
        {"max_messages": True},
        {"max_messages": 2.5},
    ]
    for kwargs in bad_defaults:
        with pytest.raises(InvalidInput):
            SessionManager("memory://", **kwargs)
    assert SessionManager("memory://", max_messages=1).max_messages == 1
    manager = SessionManager("memory://")
    with pytest.raises(InvalidInput):
        manager.create("assistant", max_messages=0)
    with pytest.raises(InvalidInput):
        manager.create("assistant", ttl=timedelta(seconds=-5))


def test_repr_never_shows_the_session_id() -> None:
    with SessionManager("memory://") as manager:
        session = manager.create("assistant")
        assert session.id not in repr(session)
        assert session.id not in str(session)


def test_context_manager_closes_the_store() -> None:
    with SessionManager("memory://") as manager:
        session = manager.create("assistant")
    with pytest.raises(StoreClosed):
        session.append({"role": "user", "content": "late"})


def test_clock_is_used_for_every_timestamp() -> None:
    clock = FakeClock()
    manager = SessionManager("memory://", clock=clock, idle_timeout=timedelta(minutes=1))
    session = manager.create("assistant")
    clock.advance(30)
    entry = session.append({"role": "user", "content": "hi"})
    assert entry.created_at == session.updated_at
    assert session.expires_at == session.updated_at + timedelta(minutes=1)
    point = session.checkpoint()
    assert point.created_at > entry.created_at


def test_import_replaces_a_session_only_as_the_same_owner_at_its_revision() -> None:
    with SessionManager("memory://") as manager:
        s = manager.create("assistant", user_id="alice")
        s.append({"role": "user", "content": "first"})
        export = manager.export_session(s.id)
        s.append({"role": "user", "content": "second"})
        stale, current = export.session.revision, s.refresh().revision
        replacement = dataclasses.replace(
            export, session=dataclasses.replace(export.session, revision=current + 1)
        )
        with pytest.raises(ConflictError):
            manager.import_session(replacement, expected_revision=stale)
        foreign = dataclasses.replace(
            replacement, session=dataclasses.replace(replacement.session, user_id="mallory")
        )
        with pytest.raises(InvalidInput):
            manager.import_session(foreign, expected_revision=current)
        assert [m.data["content"] for m in manager.get(s.id).messages()] == ["first", "second"]
        manager.import_session(replacement, expected_revision=current)
        assert [m.data["content"] for m in manager.get(s.id).messages()] == ["first"]


def test_a_window_policy_keeps_writing_and_reads_the_last_messages() -> None:
    with SessionManager("memory://", max_messages=3, on_limit="window") as manager:
        s = manager.create("assistant")
        s.extend([{"role": "user", "content": str(n)} for n in range(5)])  # no LimitExceeded
        assert s.info.max_messages is None and s.message_count == 5
        assert [m.data["content"] for m in s.messages()] == ["2", "3", "4"]
        assert len(s.messages(limit=10)) == 5  # an explicit limit wins
        twin = SessionManager(manager.store, **manager.options())
        assert [m.data["content"] for m in twin.get(s.id).messages()] == ["2", "3", "4"]
    with SessionManager("memory://", max_messages=3) as refusing:
        r = refusing.create("assistant")
        with pytest.raises(LimitExceeded):
            r.extend([{"role": "user", "content": str(n)} for n in range(4)])
    with pytest.raises(InvalidInput):
        SessionManager("memory://", on_limit="drop")  # type: ignore[arg-type]
