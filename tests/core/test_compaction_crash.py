"""A compaction killed at every point finds the old path or the new one.

For the SQLite and file stores: a child process compacts a session and is
killed (SIGKILL) before its first, second, third ... SQL statement (SQLite) or
file system call (file store; also with the last write torn in half), until a
run completes. After each kill a fresh process's view must be exactly the old
conversation or exactly the compacted one -- never empty, never partial --
with every original message still in the session, the checkpoint taken before
still restoring it, and (SQLite) the search index agreeing with what
committed. A compaction written in two steps fails this test.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentsession import SessionManager

pytestmark = pytest.mark.slow

# argv: url, session id, upto, kill at (0: never), torn ("1": the write that is
# hit writes half its bytes first).
CHILD = """
import os, signal, sys
from agentsession import SessionManager

url, session_id, upto = sys.argv[1:4]
kill_at, torn = int(sys.argv[4]), sys.argv[5] == "1"
calls = 0

def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def hit():
    global calls
    calls += 1
    return calls == kill_at

manager = SessionManager(url)
session = manager.get(session_id)
session.messages()  # opened: only the compaction's own work is counted

if url.startswith("sqlite"):
    def trace(statement):
        if hit():
            die()
    manager.store._db._conn.set_trace_callback(trace)
else:
    def counted(name):
        real = getattr(os, name)
        def call(*args, **kwargs):
            if hit():
                if torn and name == "write":
                    fd, data = args
                    real(fd, bytes(data)[: len(data) // 2])
                die()
            return real(*args, **kwargs)
        return call
    for name in ("write", "fsync", "fdatasync", "ftruncate", "replace", "symlink",
                 "unlink", "open", "mkdir", "utime"):
        setattr(os, name, counted(name))

session.compact("summary: the early turns", upto=upto)
print("calls", calls, flush=True)
"""


def _url(kind: str, place: Path) -> str:
    return f"sqlite:///{place / 's.db'}" if kind == "sqlite" else f"file://{place}"


def _copy(kind: str, template: Path, place: Path) -> None:
    if kind == "sqlite":
        place.mkdir()
        shutil.copy(template / "s.db", place / "s.db")
    else:
        shutil.copytree(template, place)


def _run(url: str, session_id: str, upto: str, kill_at: int, torn: bool) -> bool:
    """Compact in a child killed at the ``kill_at``-th call; True if it finished."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, session_id, upto, str(kill_at), "1" if torn else "0"],
        capture_output=True,
        timeout=60,
    )
    if child.returncode == -signal.SIGKILL:
        return False
    assert child.returncode == 0, child.stderr.decode()
    return True


@pytest.mark.parametrize(("kind", "torn"), [("sqlite", False), ("file", False), ("file", True)])
def test_a_compaction_killed_anywhere_leaves_the_old_path_or_the_new(
    tmp_path: Path, kind: str, torn: bool
) -> None:
    template = tmp_path / "template"
    template.mkdir()
    texts = [f"turn {n} about tides" for n in range(6)]
    with SessionManager(_url(kind, template)) as manager:
        s = manager.create("bot", user_id="alice")
        s.extend([{"role": "user", "content": t} for t in texts])
        point = s.checkpoint("before")
        originals = {e.id: dict(e.data) for e in s.entries()}
        upto = s.messages()[2].id
    old = texts
    new = ["summary: the early turns", *texts[3:]]

    kills = 0
    for kill_at in range(1, 400):
        place = tmp_path / f"run-{kill_at}"
        _copy(kind, template, place)
        url = _url(kind, place)
        finished = _run(url, s.id, upto, kill_at, torn)
        with SessionManager(url) as manager:
            after = manager.get(s.id)
            contents = [m.data["content"] for m in after.messages()]
            assert contents in (old, new), (kill_at, contents)
            stored = {e.id: dict(e.data) for e in manager.export_session(s.id).entries}
            assert all(stored.get(i) == data for i, data in originals.items()), kill_at
            if kind == "sqlite":
                found = sorted(h.snippet for h in manager.search("tides", user_id="alice"))
                assert found == sorted(texts), kill_at
                summary = manager.search("summary", user_id="alice")
                assert len(summary) == (contents == new), kill_at
            after.restore(point.id)
            assert [m.data["content"] for m in after.messages()] == old
        shutil.rmtree(place)
        if finished:
            assert contents == new  # the run that was not killed compacted
            break
        kills += 1
    else:
        pytest.fail("the compaction never finished")
    # The loop really stopped the compaction at many points, not once or twice.
    assert kills >= 4, kills
    print(f"{kind}{' torn' if torn else ''}: killed at {kills} points")
