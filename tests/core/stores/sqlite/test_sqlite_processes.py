"""The SQLite store across processes: restarts, concurrent writers, SIGKILL.

Every test works on a real database file under ``tmp_path`` and real
interpreters started with ``subprocess`` / ``multiprocessing`` (spawn).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentsession import SessionManager
from agentsession.stores.sqlite._db import _RESTART_FRAMES
from agentsession.stores.sqlite._schema import SCHEMA_VERSION
from agentsession.stores.sqlite._sync.store import SQLiteStore
from agentsession.testing import assert_one_chain, process_appends

from .._process_support import check_restart, check_workers, python

pytestmark = pytest.mark.slow


def test_a_new_interpreter_finds_everything(tmp_path: Path) -> None:
    check_restart(f"sqlite:///{tmp_path / 'restart.db'}")


def test_four_processes_append_to_one_session(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    session_id = process_appends(f"sqlite:///{path}", processes=4, appends=250)
    with SessionManager(SQLiteStore(path)) as manager:
        session = manager.get(session_id)
        path_messages = session.messages()
        assert_one_chain(path_messages, 1000)
        assert session.message_count == 1000
        check_workers(path_messages, processes=4, appends=250)


OPEN_FRESH = """
import sys, time
from agentsession import SessionManager
from agentsession.stores.sqlite._sync.store import SQLiteStore

start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with SessionManager(SQLiteStore(sys.argv[1])) as manager:
    session = manager.create("racer")
    session.append({"role": "user", "content": "first"})
    print(session.id)
"""


def test_processes_opening_a_fresh_file_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "deep" / "fresh.db")
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_FRESH, path, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    ids = {out.strip() for out, _ in outputs}
    assert len(ids) == 6
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM agentsession_schema").fetchall()
        assert versions == [(n,) for n in range(1, SCHEMA_VERSION + 1)]
    conn.close()
    with SessionManager(SQLiteStore(path)) as manager:
        assert {info.id for info in manager.list("racer")} == ids


APPEND_FOREVER = """
import sys
from agentsession import SessionManager
from agentsession.stores.sqlite._sync.store import SQLiteStore

manager = SessionManager(SQLiteStore(sys.argv[1]))
session = manager.get(sys.argv[2])
n = 0
while True:
    n += 1
    if n % 50 == 0:
        session.checkpoint(f"auto {n}")
    pair = [{"role": "user", "content": f"m{n}"}, {"role": "assistant", "content": "ok"}]
    entry = session.extend(pair)
    sys.stdout.write(entry[0].id + " " + entry[1].id + "\\n")
    sys.stdout.flush()
"""


def test_sigkill_never_loses_a_returned_append(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    with SessionManager(SQLiteStore(path)) as manager:
        session_id = manager.create("crash-test").id
    rng = random.Random(20260522)
    confirmed: list[str] = []
    for _ in range(24):
        child = subprocess.Popen(
            [sys.executable, "-c", APPEND_FOREVER, str(path), session_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # it is appending now
        assert first.endswith(b"\n"), child.stderr.read() if child.stderr else b""
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        lines = (first + rest).split(b"\n")[:-1]  # a torn last line is not a confirmation
        confirmed += [i.decode() for line in lines for i in line.split()]

        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        with SessionManager(SQLiteStore(path)) as manager:
            session = manager.get(session_id)
            entries = session.entries()
            assert_one_chain(entries, len(entries))
            stored = [e.id for e in entries]
            position = {entry_id: n for n, entry_id in enumerate(stored)}
            missing = [i for i in confirmed if i not in position]
            assert not missing, f"{len(missing)} returned appends lost"
            assert [position[i] for i in confirmed] == sorted(position[i] for i in confirmed)
            for point in session.checkpoints()[-3:]:
                session.restore(point.id)
            session.switch(stored[-1])
    assert len(confirmed) > 24


def _spawned_writer(path: str, session_id: str, count: int) -> None:
    with SessionManager(SQLiteStore(path, busy_timeout=30)) as manager:
        session = manager.get(session_id)
        for n in range(count):
            session.update_metadata({str(os.getpid()): n})


def test_metadata_updates_from_processes_all_land(tmp_path: Path) -> None:
    path = str(tmp_path / "meta.db")
    with SessionManager(SQLiteStore(path)) as manager:
        session = manager.create("meta")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_spawned_writer, args=(path, session.id, 100)) for _ in range(3)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0, 0, 0]
    with SessionManager(SQLiteStore(path)) as manager:
        info = manager.get(session.id).info
    assert info.revision == 300
    assert sorted(info.metadata.values()) == [99, 99, 99]


FORK = """
import os, sys
from agentsession import SessionManager
from agentsession.stores.sqlite._sync.store import SQLiteStore

manager = SessionManager(SQLiteStore(sys.argv[1]))
session = manager.create("forked")
session.append({"role": "user", "content": "parent before fork"})
pid = os.fork()
if pid == 0:  # the child inherits the open store and must open its own connection
    for n in range(50):
        session.append({"role": "user", "content": f"child {n}"})
    manager.close()
    os._exit(0)
for n in range(50):
    session.append({"role": "user", "content": f"parent {n}"})
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
print(session.id, len(session.messages()))
manager.close()
"""


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    path = tmp_path / "fork.db"
    session_id, count = python(FORK, str(path)).split()
    assert count == "101"
    with SessionManager(SQLiteStore(path)) as manager:
        contents = [m.data["content"] for m in manager.get(session_id).messages()]
    assert sorted(contents) == sorted(
        ["parent before fork"] + [f"{who} {n}" for who in ("child", "parent") for n in range(50)]
    )
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def _wal_sizes_while_appending(path: Path) -> tuple[str, list[int]]:
    """4 spawned writers x 1 500 appends to one session of ``path``, and the
    WAL file's size sampled every 2 ms meanwhile."""
    sizes: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):  # gone once the last one closes
                sizes.append(os.stat(f"{path}-wal").st_size)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        session_id = process_appends(f"sqlite:///{path}", processes=4, appends=1500)
    finally:
        done.set()
        watcher.join()
    return session_id, sizes


def test_a_wal_that_writers_of_other_processes_keep_from_restarting_is_emptied(
    tmp_path: Path,
) -> None:
    # With writes of several processes always overlapping, no checkpoint
    # that waits for nobody finds every frame copied back, so the WAL never
    # restarts by itself and its file only grows. The stores empty it
    # (docs/design.md, "Store protocol"): its size falls while they write.
    # A run whose WAL restarted by itself before it held that many frames
    # shows nothing to empty; it is run again (at most three runs).
    frame = 4096 + 24  # a page and its frame header
    for attempt in range(3):
        path = tmp_path / f"busy-{attempt}.db"
        session_id, sizes = _wal_sizes_while_appending(path)
        if max(sizes, default=0) > _RESTART_FRAMES * frame:
            break
    else:
        pytest.skip("in three runs the WAL restarted by itself: it never needed emptying")
    emptied = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
    assert emptied >= 2, f"the WAL file never shrank (largest {max(sizes)} bytes)"
    with SessionManager(SQLiteStore(path)) as manager:
        assert manager.get(session_id).message_count == 6000
