"""The file store across processes: restarts, concurrent writers, SIGKILL.

Every test works on a real directory under ``tmp_path`` and real interpreters
started with ``subprocess`` / ``multiprocessing`` (spawn).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentsession import SessionManager
from agentsession.stores.file._sync.store import FileStore
from agentsession.testing import assert_one_chain, process_appends

from .._process_support import ROOT, check_restart, check_workers
from ._file_support import MIXER, session_file

pytestmark = pytest.mark.slow


def test_a_new_interpreter_finds_everything(tmp_path: Path) -> None:
    check_restart(f"file://{tmp_path / 'restart'}")


def test_four_processes_append_to_one_session(tmp_path: Path) -> None:
    base = tmp_path / "shared"
    session_id = process_appends(f"file://{base}", processes=4, appends=250)
    with SessionManager(FileStore(base)) as manager:
        session = manager.get(session_id)
        path_messages = session.messages()
        assert_one_chain(path_messages, 1000)
        assert session.message_count == 1000
        check_workers(path_messages, processes=4, appends=250)
    # one line per message, nothing torn, nothing else
    lines = session_file(base, session_id).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1 + 1 + 1000


PADS = (10, 200, 2_000, 100_000)
APPENDER = """
import random, sys
from agentsession import SessionManager
from agentsession.stores.file._sync.store import FileStore

base, session_id, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
with SessionManager(FileStore(base)) as manager:
    session = manager.get(session_id)
    print("ready", flush=True)
    n = 0
    while True:
        size = rng.choice((1, 1, 1, 3))
        pad = "x" * rng.choice((10,) * 10 + (200,) * 6 + (2_000,) * 3 + (100_000,))
        batch = [
            {"role": "user", "content": f"{seed}:{n}:{i}:{size}", "pad": pad}
            for i in range(size)
        ]
        done = session.extend(batch)
        print(" ".join(e.id for e in done), flush=True)
        n += 1
"""


def test_sigkill_at_random_moments_loses_nothing_that_returned(tmp_path: Path) -> None:
    base = tmp_path / "crash"
    with SessionManager(FileStore(base)) as manager:
        session_id = manager.create("crash").id
    rng = random.Random(20261122)
    returned: list[str] = []
    torn = 0
    for round_ in range(24):
        child = subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(base), session_id, str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        first = child.stdout.readline()  # one append returned: the kill can lose something
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err.decode()
        *complete, _partial = (first + rest).split(b"\n")  # a cut line was not returned
        confirmed = [i for line in complete for i in line.decode().split()]
        assert confirmed, f"round {round_}: no append returned before the kill: {err.decode()}"
        returned.extend(confirmed)
        torn += not session_file(base, session_id).read_bytes().endswith(b"\n")

        # a fresh store (as after a restart) opens the session and finds every
        # append that returned, in one chain of whole batches
        with SessionManager(FileStore(base)) as manager:
            session = manager.get(session_id)
            path = session.messages()
            assert_one_chain(path, len(path))
            ids = {e.id for e in path}
            assert all(i in ids for i in returned), f"round {round_}: lost an append"
            batches: dict[tuple[str, str, str], list[int]] = {}
            for entry in path:
                seed, n, i, size = str(entry.data["content"]).split(":")
                batches.setdefault((seed, n, size), []).append(int(i))
                assert len(entry.data["pad"]) in PADS
            for (seed, n, size), items in batches.items():
                assert items == list(range(int(size))), f"batch {seed}:{n} is not whole"
            assert session.message_count == len(path)
    assert len(returned) > 24
    # the kills did land mid-write sometimes, and each torn tail was repaired
    total = session_file(base, session_id).stat().st_size
    print(f"{torn} of 24 kills left a torn tail; {len(returned)} appends, {total} bytes")
    with SessionManager(FileStore(base)) as manager:
        session = manager.get(session_id)
        session.append({"role": "user", "content": "after the last crash"})
    data = session_file(base, session_id).read_bytes()
    assert data.endswith(b"\n")
    assert all(json.loads(line) for line in data.splitlines())


def test_processes_mixing_every_call_leave_consistent_files(tmp_path: Path) -> None:
    base = tmp_path / "mixed"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIXER, str(base), str(seed), "300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for seed in range(4)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out == b"done\n", err.decode()
    with SessionManager(FileStore(base)) as manager:
        rows = manager.list(limit=10_000)
        assert rows and len({r.id for r in rows}) == len(rows)
        assert sorted(r.id for r in rows) == sorted(os.listdir(base / ".ids"))
        for user in ("u1", "u2", "u3", None):
            assert {r.id for r in manager.list(user_id=user, limit=10_000)} == {
                r.id for r in rows if r.user_id == user
            }
        for row in rows:
            session = manager.get(row.id)
            path = session.entries()
            assert_one_chain(path, len(path))
            assert session.message_count == len(path)
            for point in session.checkpoints():
                session.restore(point.id)
