"""The record helpers every store call runs: copies that keep every field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from agentsession import SessionInfo
from agentsession._models import copy_info, evolve


def _distinct() -> SessionInfo:
    """An info whose fields all hold different values (a swap would show)."""
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return SessionInfo(
        id="s" * 22,
        agent="assistant",
        user_id="alice",
        created_at=t,
        updated_at=t + timedelta(seconds=1),
        metadata={"plan": "pro"},
        head="h" * 22,
        message_count=7,
        revision=11,
        expires_at=t + timedelta(days=2),
        deadline=t + timedelta(days=3),
        idle_timeout=60.0,
        max_messages=500,
        last_checkpoint_at=t + timedelta(seconds=5),
    )


def test_evolve_keeps_every_field_it_is_not_told_to_change() -> None:
    info = _distinct()
    same = evolve(info)
    assert same == info and same is not info
    for field in dataclasses.fields(SessionInfo):
        assert getattr(same, field.name) is getattr(info, field.name), field.name


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(SessionInfo)])
def test_evolve_changes_one_field_and_leaves_the_original(name: str) -> None:
    info = _distinct()
    marker = object()
    changed = evolve(info, **{name: marker})
    assert getattr(changed, name) is marker
    assert getattr(info, name) is not marker
    for field in dataclasses.fields(SessionInfo):
        if field.name != name:
            assert getattr(changed, field.name) is getattr(info, field.name), field.name


def test_copy_info_shares_no_metadata() -> None:
    info = _distinct()
    copied = copy_info(info)
    assert copied == info
    assert copied.metadata is not info.metadata
