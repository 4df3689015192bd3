"""Default caps a real app never meets: metadata, checkpoint metadata, batch size."""

from __future__ import annotations

import pytest

from agentsession import LimitExceeded, SessionManager
from agentsession.stores import MemoryStore

BIG = {"blob": "x" * 70_000}  # over the 64 KiB default


@pytest.fixture
def manager() -> SessionManager:
    return SessionManager(MemoryStore())


def test_session_metadata_is_capped(manager: SessionManager) -> None:
    with pytest.raises(LimitExceeded, match="metadata is"):
        manager.create("agent", metadata=BIG)
    assert manager.list() == []
    session = manager.create("agent", metadata={"title": "ok"})
    with pytest.raises(LimitExceeded, match="metadata is"):
        session.update_metadata(BIG)
    for index in range(3):  # small patches cannot add up past the cap
        session.update_metadata({f"part{index}": "y" * 20_000})
    with pytest.raises(LimitExceeded):
        session.update_metadata({"part9": "y" * 20_000})
    assert manager.get(session.id).metadata["title"] == "ok"
    assert "part9" not in manager.get(session.id).metadata


def test_checkpoint_metadata_is_capped(manager: SessionManager) -> None:
    session = manager.create("agent")
    with pytest.raises(LimitExceeded, match="checkpoint metadata is"):
        session.checkpoint("big", metadata=BIG)
    assert session.checkpoints() == []


def test_one_write_takes_at_most_max_batch_entries(manager: SessionManager) -> None:
    session = manager.create("agent")
    with pytest.raises(LimitExceeded, match="10001 entries in one write"):
        session.extend({"n": i} for i in range(10_001))
    assert session.messages() == []
    assert len(session.extend({"n": i} for i in range(10_000))) == 10_000


def test_the_caps_are_options(manager: SessionManager) -> None:
    roomy = SessionManager(MemoryStore(), max_metadata_bytes=200_000, max_batch=20_000)
    session = roomy.create("agent", metadata=BIG)
    session.checkpoint("big", metadata=BIG)
    assert len(session.extend({"n": i} for i in range(10_001))) == 10_001
    assert roomy.with_store(MemoryStore()).options()["max_batch"] == 20_000
