"""Helpers for the file store's tests: reach into the files as a person would."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agentsession import SessionManager


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


def describe(manager: SessionManager, user_id: str) -> dict[str, Any]:
    """Everything a user of the store sees, as JSON (compared across processes)."""
    found: dict[str, Any] = {}
    for info in manager.list(limit=1000):
        session = manager.get(info.id)
        found[info.id] = {
            "agent": session.agent,
            "user_id": session.user_id,
            "metadata": session.metadata,
            "head": session.head,
            "revision": session.revision,
            "messages": [m.data["content"] for m in session.messages()],
            "state": session.state(),
            "leaves": sorted(b.leaf_id for b in session.branches()),
            "checkpoints": [[c.id, c.entry_id, c.name, c.metadata] for c in session.checkpoints()],
        }
    return {"sessions": found, "mine": [i.id for i in manager.list(user_id=user_id)]}
