"""Data written by an earlier release opens, reads and verifies with this one:
a SQLite file and a file-store folder from before chained checkpoint
checksums (``tests/core/legacy/README.md``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentsession import SessionManager
from agentsession._canonical import chain_checksum, is_chained

LEGACY = Path(__file__).parent / "legacy"


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_an_earlier_releases_data_opens_and_verifies(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        shutil.copy(LEGACY / "sessions.db", tmp_path / "sessions.db")
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        shutil.copytree(LEGACY / "files", tmp_path / "files")
        url = f"file://{tmp_path / 'files'}"
    with SessionManager(url) as manager:
        s = manager.get("legacy-session", user_id="alice")
        contents = [m.data["content"] for m in s.messages()]
        assert contents == ["My name is Alice.", "Hello Alice!", "later"]
        (old,) = s.checkpoints()
        assert old.name == "before" and not is_chained(old.checksum)  # the flat form
        restored = s.restore(old.id)  # verifies the flat checksum over the stored path
        assert restored.metadata == {"note": "flat checksum"}
        assert [m.data["content"] for m in s.messages()] == contents[:2]
        assert s.state() == {"step": 1}
        new = s.checkpoint("after")  # chained, going on from nothing it knows
        assert new.checksum == chain_checksum(e.digest for e in s.entries())
        s.append({"role": "user", "content": "new"})
        s.restore(new.id)
        s.restore(old.id)
