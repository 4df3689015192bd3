"""A compaction killed at every point finds the old path or the new one.

``Session.compact`` is one store write (``docs/design.md``, "Semantics"). For
the SQLite and file stores, a child process compacts a session and SIGKILLs
itself at its 1st, 2nd, 3rd ... SQL statement (SQLite: in the trace callback,
before the statement runs, so after the one before it) or file system call
(file store); in the torn variant, the N-th ``os.write`` puts only the first
half of its bytes on disk before the kill (also on a session long enough to
be opened from its snapshot). N grows until a run completes, and that run
must have made exactly N - 1 calls: every one was a kill point.

After each run, from the files alone (a fresh manager):

* the current path is exactly the old one (the same entries) or exactly the
  compacted one (summary, state as of ``upto``, copies) -- never empty,
  never partial; ``messages()`` agrees;
* the export holds every original entry, unchanged, and nothing else but
  the whole compacted path when that is current (no half-written batch);
* the session is still listed, and (SQLite) the database passes
  ``integrity_check`` and search finds every original message, and the
  summary exactly when it committed;
* the checkpoint taken before still restores the original path, and the
  store takes the compaction again (a torn tail is cut off, not built on).

A compaction written in two steps fails this test.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentsession import Entry, SessionManager

pytestmark = pytest.mark.slow

SUMMARY = "summary: the early turns"
TEXTS = [f"turn {n} about tides" for n in range(6)]
ROLES = ("user", "assistant")

# argv: url, session id, upto, summary, kill at (the N-th call; 0: never), torn
# ("1": only os.write calls count, and the one killed at writes half its bytes).
# Prints "killed at <what>" before the kill, "calls <n>" once compacted.
CHILD = """
import os, signal, sqlite3, sys
from agentsession import SessionManager

url, session_id, upto, summary = sys.argv[1:5]
kill_at, torn = int(sys.argv[5]), sys.argv[6] == "1"
calls, armed = 0, False

def reached(what):
    global calls
    if not armed:
        return False
    calls += 1
    if calls != kill_at:
        return False
    print("killed at", " ".join(what.split())[:60], flush=True)
    return True

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if url.startswith("sqlite"):
    connect = sqlite3.connect
    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(lambda statement: reached(statement) and die())
        return conn
    sqlite3.connect = traced
else:
    def counted(name, real):
        def call(*args, **kwargs):
            if (name == "write" or not torn) and reached(name):
                if torn:
                    fd, data = args
                    real(fd, bytes(data)[: len(data) // 2])
                die()
            return real(*args, **kwargs)
        return call
    for name in ("write", "pwrite", "fsync", "fdatasync", "ftruncate", "replace", "rename",
                 "link", "symlink", "unlink", "open", "mkdir", "utime"):
        setattr(os, name, counted(name, getattr(os, name)))

manager = SessionManager(url)
session = manager.get(session_id)
session.messages()  # opened: only the compaction's own calls count
armed = True
session.compact(summary, upto=upto)
armed = False
print("calls", calls, flush=True)
"""

View = list[tuple[str, dict[str, Any]]]


def _view(entries: list[Entry]) -> View:
    return [(e.kind, dict(e.data)) for e in entries]


@dataclass
class Case:
    session_id: str
    upto: str
    point: str  # a checkpoint at the old head
    old_ids: list[str]
    old: View  # the old path
    new: View  # the compacted path


def _url(kind: str, place: Path) -> str:
    return f"sqlite:///{place / 's.db'}" if kind == "sqlite" else f"file://{place}"


def _case(url: str, padded: bool) -> Case:
    """The session to compact; ``padded``: long enough to get a snapshot."""
    messages = [{"role": ROLES[n % 2], "content": t} for n, t in enumerate(TEXTS)]
    state: dict[str, Any] = {"notes": "ebb and flow " * 6000} if padded else {}
    with SessionManager(url) as manager:
        s = manager.create("bot", user_id="alice")
        if state:
            s.update_state(state)
        s.extend(messages[:2])
        s.update_state({"topic": "tides"})
        state["topic"] = "tides"
        s.extend(messages[2:5])
        s.update_state({"mood": "calm"})
        s.append(messages[5])
        point = s.checkpoint("before")
        path = s.entries()
        upto = s.messages()[2].id  # covers two messages, the state, a third
        cut = [e.id for e in path].index(upto) + 1
        summary: dict[str, Any] = {
            "role": "system",
            "content": SUMMARY,
            "compaction": {"upto": upto, "entries": cut, "messages": 3, "from_head": path[-1].id},
        }
        new = [("message", summary), ("state", state), *_view(path[cut:])]
        return Case(s.id, upto, point.id, [e.id for e in path], _view(path), new)


def _run(url: str, t: Case, kill_at: int, torn: bool) -> tuple[bool, str]:
    """Compact in a child killed at its ``kill_at``-th call: (True, calls it
    made) if it finished, (False, what it was killed at) if not."""
    flag = "1" if torn else "0"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, t.session_id, t.upto, SUMMARY, str(kill_at), flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if child.returncode == -signal.SIGKILL:
        assert child.stdout.startswith("killed at "), child.stdout
        return False, child.stdout.removeprefix("killed at ").strip()
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("calls "), child.stdout
    return True, child.stdout.split()[1]


def _check(kind: str, url: str, place: Path, t: Case) -> str:
    """What a fresh manager finds after a run ("old" or "new"), checked whole."""
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(place / "s.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    originals = dict(zip(t.old_ids, t.old, strict=True))
    with SessionManager(url) as manager:
        session = manager.get(t.session_id)
        path = session.entries()
        if [e.id for e in path] == t.old_ids:
            outcome, expected = "old", t.old
        else:
            outcome, expected = "new", t.new
            assert not {e.id for e in path} & originals.keys()  # copies, not moves
        assert _view(path) == expected
        assert [dict(m.data) for m in session.messages()] == [
            data for entry_kind, data in expected if entry_kind == "message"
        ]
        stored = {
            e.id: (e.kind, dict(e.data)) for e in manager.export_session(t.session_id).entries
        }
        assert {i: stored.get(i) for i in originals} == originals
        new_ids = set() if outcome == "old" else {e.id for e in path}
        assert stored.keys() - originals.keys() == new_ids  # no stray half of a batch
        assert [i.id for i in manager.list("bot", user_id="alice")] == [t.session_id]
        if kind == "sqlite":
            found = sorted(h.snippet for h in manager.search("tides", user_id="alice"))
            assert found == sorted(TEXTS)
            summary = manager.search("summary", user_id="alice")
            assert len(summary) == (outcome == "new")
        session.restore(t.point)
        assert [e.id for e in session.entries()] == t.old_ids
        session.compact(SUMMARY, upto=t.upto)
    with SessionManager(url) as manager:
        assert _view(manager.get(t.session_id).entries()) == t.new
    return outcome


@pytest.mark.parametrize(
    ("kind", "torn", "padded", "least"),
    [
        ("sqlite", False, False, 20),
        ("file", False, False, 4),
        ("file", True, False, 2),
        ("file", True, True, 2),  # the file opened from its snapshot, the tail replayed
    ],
)
def test_a_compaction_killed_anywhere_leaves_the_old_path_or_the_new(
    tmp_path: Path, kind: str, torn: bool, padded: bool, least: int
) -> None:
    hits: list[str] = []  # what each killed run died at
    outcomes: list[str] = []
    for kill_at in range(1, 400):
        # Each run its own store, made in place: a copied file would be
        # another inode, which its snapshot does not fit.
        place = tmp_path / f"run-{kill_at}"
        place.mkdir()
        url = _url(kind, place)
        t = _case(url, padded)
        if padded:  # the child opens it from here (docs/design.md, "File store indexes")
            assert (place / ".snapshots" / t.session_id).is_file()
        finished, said = _run(url, t, kill_at, torn)
        outcome = _check(kind, url, place, t)
        shutil.rmtree(place)
        if finished:
            assert outcome == "new"  # the run that was not killed compacted
            assert int(said) == len(hits)  # and every call it made was a kill point
            break
        hits.append(said)
        outcomes.append(outcome)
    else:
        pytest.fail("the compaction never finished")
    # Not vacuous: killed at many points, inside the write itself.
    assert len(hits) >= least, hits
    if kind == "sqlite":
        assert any(h.startswith("INSERT") for h in hits) and "COMMIT" in hits, hits
    else:
        assert "write" in hits, hits
    left = {o: outcomes.count(o) for o in ("old", "new")}
    variant = kind + " torn" * torn + " padded" * padded
    print(f"\n{variant}: {len(hits)} kill points, leaving {left}")
