"""Helpers for the file store's tests: reach into the files as a person would."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
