"""Writes ``sessions-v2.db`` and ``files-v2/``: data of the release before
path checksums (commit ec44eb8: SQLite schema version 2, file lines without
a checksum). Run with that commit's code importable as ``agentsession``::

    git worktree add --detach /tmp/old ec44eb8
    mkdir /tmp/oldpkg && ln -s /tmp/old/core /tmp/oldpkg/agentsession
    PYTHONPATH=/tmp/oldpkg python tests/core/legacy/make_release2.py

Never run by the tests: they copy what it wrote.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentsession import SessionManager

HERE = Path(__file__).parent


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def fill(url: str) -> None:
    with SessionManager(url, clock=Clock()) as manager:
        s = manager.create("assistant", user_id="alice", session_id="release2")
        s.append({"role": "user", "content": "My name is Alice."})
        s.append({"role": "assistant", "content": "Hello Alice!"})
        s.update_state({"step": 1})
        point = s.checkpoint("greeted", {"note": "chained checksum"})
        s.append({"role": "user", "content": "first try"})
        s.restore(point.id)
        s.append({"role": "user", "content": "second try"})  # a branch
        # Long enough (> 64 KiB) for the file store to write a snapshot.
        s.extend([{"role": "user", "content": f"filler {n} " + "x" * 200} for n in range(400)])
        s.append({"role": "assistant", "content": "the end"})


def main() -> None:
    db = HERE / "sessions-v2.db"
    folder = HERE / "files-v2"
    db.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    fill(f"sqlite:///{db}")
    fill(f"file://{folder}")
    for extra in HERE.glob("sessions-v2.db-*"):  # WAL and shared memory: none after close
        extra.unlink()


if __name__ == "__main__":
    main()
