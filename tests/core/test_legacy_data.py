"""Data written by an earlier release opens, reads and verifies with this one:
a SQLite file and a file-store folder from before chained checkpoint
checksums (``tests/core/legacy/README.md``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentsession import SessionManager
from agentsession._canonical import chain_checksum, chain_steps, is_chained

LEGACY = Path(__file__).parent / "legacy"


def copied(kind: str, tmp_path: Path, suffix: str = "") -> str:
    """A copy of the legacy data of ``kind`` (``suffix``: which release's),
    as a store URL."""
    if kind == "sqlite":
        shutil.copy(LEGACY / f"sessions{suffix}.db", tmp_path / "sessions.db")
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    shutil.copytree(LEGACY / f"files{suffix}", tmp_path / "files")
    return f"file://{tmp_path / 'files'}"


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_an_earlier_releases_data_opens_and_verifies(tmp_path: Path, kind: str) -> None:
    url = copied(kind, tmp_path)
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


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_the_release_before_path_checksums_opens_and_gets_them(tmp_path: Path, kind: str) -> None:
    # Written by tests/core/legacy/make_release2.py with the code of commit
    # ec44eb8: SQLite schema version 2, file lines without checksums, and a
    # file-store snapshot.
    url = copied(kind, tmp_path, "-v2")
    with SessionManager(url) as manager:
        s = manager.get("release2", user_id="alice")
        assert len(s.messages()) == 404 and s.messages(limit=1)[0].data["content"] == "the end"
        # Every entry of every branch carries its path checksum.
        for branch in s.branches():
            s.switch(branch.leaf_id)
            path = s.entries()
            assert [e.checksum for e in path] == chain_steps([e.digest for e in path], None)
        (old,) = s.checkpoints()
        assert is_chained(old.checksum)
        s.restore(old.id)  # verifies the path against the old checksum
        assert [m.data["content"] for m in s.messages()] == ["My name is Alice.", "Hello Alice!"]
        assert s.checkpoint("again").checksum == old.checksum  # read from the head
        s.append({"role": "user", "content": "new"})
        new = s.checkpoint("after")
        assert new.checksum == chain_checksum(e.digest for e in s.entries())
        s.restore(new.id)
    with SessionManager(url) as manager:  # and again, from what the first run left
        s = manager.get("release2", user_id="alice")
        assert s.entries()[-1].checksum == new.checksum


def test_the_release_before_the_search_queue_keeps_its_index(tmp_path: Path) -> None:
    # Written by tests/core/legacy/make_release3.py with the code of commit
    # 744c3ae: SQLite schema version 3, every message indexed as appended.
    url = copied("sqlite", tmp_path, "-v3")
    with SessionManager(url) as manager:
        assert [h.session_id for h in manager.search("otter", user_id="bob")] == ["release3"]
        s = manager.get("release2", user_id="alice")
        found = sorted(h.snippet for h in manager.search("alice", user_id="alice"))
        assert found == ["Hello Alice!", "My name is Alice."]
        s.append({"role": "user", "content": "an otter after the upgrade"})
        hits = manager.search("otter", user_id="alice")
        assert [h.snippet for h in hits] == ["an otter after the upgrade"]
        assert len(manager.search("filler", user_id="alice", limit=100)) == 100
        (old,) = s.checkpoints()
        s.restore(old.id)  # the old path still verifies
