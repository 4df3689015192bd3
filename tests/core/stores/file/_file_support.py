"""Helpers for the file store's tests: reach into the files as a person would."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentsession import UNCHECKED, AgentSessionError, SessionInfo


def session_file(base: str | Path, session_id: str) -> Path:
    """The real path of a session's JSONL file (found through its ``.ids`` link)."""
    return Path(os.path.realpath(Path(base, ".ids", session_id)))


def tamper(base: str | Path, session_id: str, entry_id: str, data: dict[str, Any]) -> None:
    """Rewrite one entry's data and save the file the way an editor does
    (a new file renamed over the old one); the digest is left as it was."""
    path = session_file(base, session_id)
    lines = path.read_bytes().splitlines(keepends=True)
    changed = 0
    for n, line in enumerate(lines):
        record = json.loads(line)
        if record["op"] == "entry" and record["id"] == entry_id:
            record["data"] = data
            lines[n] = json.dumps(record).encode() + b"\n"
            changed += 1
    assert changed == 1
    temporary = path.with_suffix(".edited")
    temporary.write_bytes(b"".join(lines))
    os.replace(temporary, path)


class EditsFiles:
    """How the conformance suite's ``tamper_entry`` edits a file store: as a
    person would (:func:`tamper`)."""

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.path, session_id, entry_id, data)


def eager(store: Any) -> Any:
    """``store`` (a file store) writing a snapshot after every call that wrote
    and compacting its listing journals every few lines, so that short
    sessions take the paths long ones do. Returns the store."""
    engine = store._engine
    engine.snapshots.smallest = 0
    engine.snapshots.every = 0
    engine.recent.growth = 1
    engine.recent.slack = 300
    engine.recent.tail = 200
    return store


def journals(base: str | Path) -> list[Path]:
    """Every listing journal under ``base``."""
    return sorted(Path(base).rglob(".recent"))


def snapshots(base: str | Path) -> list[Path]:
    """Every session snapshot under ``base``."""
    folder = Path(base, ".snapshots")
    return sorted(folder.iterdir()) if folder.exists() else []


def scanned(
    store: Any,
    *,
    agent: str | None,
    user_id: Any,
    limit: int,
    offset: int,
    now: datetime,
) -> list[SessionInfo]:
    """What ``list_sessions`` must return, found the long way: every session
    under ``.ids`` read one by one, filtered, sorted newest first."""
    rows = []
    folder = Path(store.path, ".ids")
    for session_id in sorted(os.listdir(folder)) if folder.exists() else []:
        try:
            info = store.get_session(session_id, now=now)
        except AgentSessionError:
            continue
        if agent is not None and info.agent != agent:
            continue
        if user_id is not UNCHECKED and info.user_id != user_id:
            continue
        rows.append(info)
    rows.sort(key=lambda info: (info.updated_at, info.id), reverse=True)
    return rows[offset : offset + limit]


SCOPES = [
    (agent, user) for agent in (None, "a", "b") for user in (UNCHECKED, None, "u1", "u2", "u3")
]
PAGES = [(1, 0), (3, 0), (3, 2), (20, 0), (1000, 0)]


def check_listings(store: Any, now: datetime | None = None) -> int:
    """Every scope and page of ``store``'s listing equals :func:`scanned`;
    returns how many sessions are live."""
    now = now or datetime.now(UTC)
    for agent, user in SCOPES:
        for limit, offset in PAGES:
            found = store.list_sessions(
                agent=agent, user_id=user, limit=limit, offset=offset, now=now
            )
            expected = scanned(
                store, agent=agent, user_id=user, limit=limit, offset=offset, now=now
            )
            assert found == expected, (agent, user, limit, offset)
    return len(scanned(store, agent=None, user_id=UNCHECKED, limit=10**9, offset=0, now=now))


#: A child process making random calls of every kind on sessions shared with
#: other processes: ``python -c MIXER BASE SEED STEPS [eager]`` (run with the
#: repository on ``PYTHONPATH``); prints ``done``.
MIXER = """
import random, sys
from agentsession import ConflictError, SessionManager, SessionNotFound
from agentsession.stores.file._sync.store import FileStore
from tests.core.stores.file._file_support import eager

base, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
store = FileStore(base, max_open=3)
with SessionManager(eager(store) if sys.argv[4:] == ["eager"] else store) as manager:
    for i in range(steps):
        roll = rng.random()
        try:
            if roll < 0.15:
                manager.create(rng.choice("ab"), user_id=rng.choice(["u1", "u2", None]))
                continue
            rows = manager.list(limit=50)
            if not rows:
                continue
            session = manager.get(rng.choice(rows).id)
            if roll < 0.55:
                session.append({"role": "user", "content": f"{seed}-{i}"})
            elif roll < 0.62:
                session.update_metadata({"n": i})
            elif roll < 0.7:
                session.checkpoint()
            elif roll < 0.74:
                session.pop()
            elif roll < 0.8:
                manager.delete(session.id)
            elif roll < 0.85:
                manager.rotate_id(session.id, user_id=rng.choice(["u1", "u3", None]))
            elif roll < 0.9:
                export = manager.export_session(session.id)
                manager.delete(session.id)
                manager.import_session(export)
            else:
                points = session.checkpoints()
                if points:
                    session.restore(rng.choice(points).id)
        except (SessionNotFound, ConflictError):
            pass  # another process deleted, moved or changed it meanwhile
print("done")
"""
