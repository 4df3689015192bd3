"""Cross-process checks shared by the embedded stores' tests (file, SQLite).

A store keeps its promise across a restart when a new interpreter, opening
the same URL, sees exactly what the writer saw: :func:`check_restart` builds
one history with every kind of write and compares :func:`describe` of it,
here and in fresh interpreters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from agentsession import Entry, SessionManager

ROOT = Path(__file__).resolve().parents[3]


def python(code: str, *args: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout (fail on error)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # for tests.core.stores.*
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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


DESCRIBE = """
import json, sys
from agentsession import SessionManager
from tests.core.stores._process_support import describe

with SessionManager(sys.argv[1]) as manager:
    found = describe(manager, sys.argv[2])
    # Verification in this process: every checkpoint restores (digests and
    # checksum recomputed from what is stored), then the head goes back.
    for info in manager.list(limit=1000):
        session = manager.get(info.id)
        for point in session.checkpoints():
            session.restore(point.id)
        if info.head is not None:
            session.switch(info.head)
    print(json.dumps(found))
"""


def check_restart(url: str) -> None:
    """Write one of everything at ``url``; fresh interpreters must see it all.

    Covers sessions, branches, checkpoint names and metadata, a ``restore``
    left in force, state, metadata updates, a rotated id and its user index,
    and an empty session; then that each fresh interpreter's own writes (its
    restores) are seen by the next one and by a new store object here.
    """
    odd_user = "ü/../bob; rm -rf / ; DROP TABLE x"
    with SessionManager(url) as manager:
        talk = manager.create("assistant", user_id="alice", metadata={"topic": "restart"})
        talk.extend([{"role": "user", "content": f"m{i}"} for i in range(3)])
        talk.update_state({"mood": "calm"})
        early = talk.checkpoint("early", {"step": 3})
        talk.extend([{"role": "user", "content": "abandoned"}])
        talk.update_state({"mood": "angry"})
        late = talk.checkpoint("late")
        talk.restore(early.id)  # the restore must still be in force after the restart
        talk.append({"role": "user", "content": "second branch"})
        talk.restore(early.id)
        talk.update_metadata({"seen": True})
        other = manager.create("helper", user_id=odd_user)
        other.append({"role": "assistant", "content": "hello"})
        moved = manager.rotate_id(other.id, user_id=odd_user)
        manager.create("empty")
        expected = describe(manager, odd_user)
    sessions = expected["sessions"]
    assert sessions[talk.id]["messages"] == ["m0", "m1", "m2"]
    assert sessions[talk.id]["state"] == {"mood": "calm"}
    assert sessions[talk.id]["metadata"]["seen"] is True
    assert len(sessions[talk.id]["leaves"]) == 2
    assert sessions[talk.id]["checkpoints"][0][2:] == ["early", {"step": 3}]
    assert [c[0] for c in sessions[talk.id]["checkpoints"]] == [early.id, late.id]
    assert expected["mine"] == [moved.id] and other.id not in sessions

    assert json.loads(python(DESCRIBE, url, odd_user)) == expected
    # once more, after that interpreter restored and switched back (1 write each)
    again = json.loads(python(DESCRIBE, url, odd_user))
    for before in sessions.values():
        before["revision"] += len(before["checkpoints"]) + (before["head"] is not None)
    assert again == expected
    # and this process, with a new store object, sees the second run's writes
    for before in sessions.values():
        before["revision"] += len(before["checkpoints"]) + (before["head"] is not None)
    with SessionManager(url) as manager:
        assert describe(manager, odd_user) == expected


def check_workers(path: Sequence[Entry], processes: int, appends: int) -> None:
    """``path`` holds each worker's messages of ``process_appends``, in order,
    and the workers did run at the same time (their messages interleave)."""
    order: list[str] = []
    per_worker: dict[str, list[int]] = {}
    for message in path:
        _, worker, _, n = str(message.data["content"]).split()
        per_worker.setdefault(worker, []).append(int(n))
        order.append(worker)
    assert per_worker == {str(w): list(range(appends)) for w in range(processes)}
    # One after another gives processes - 1 changes of writer; anything more
    # means two workers overlapped. (Even running together, a busy handler or a
    # loaded machine's scheduler lets a writer keep going for a while, so more
    # than a few changes is not guaranteed.)
    changes = sum(a != b for a, b in pairwise(order))
    assert changes >= processes, f"the workers ran one after another ({changes} changes)"
