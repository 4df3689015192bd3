"""The file store's listing journals (``docs/design.md``, "File store indexes").

Every listing is compared with the listing found the long way (every session
read, filtered and sorted: :func:`scanned`), after writes from two processes,
after the journals are deleted or damaged in every way a crash or a person
can leave them, and with directories written before there were journals.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentsession import UNCHECKED, SessionInfo, SessionManager
from agentsession.store import prepare_entry
from agentsession.stores.file._format import owner_key, time_ns
from agentsession.stores.file._recent import parse
from agentsession.stores.file._sync.store import FileStore

from .._process_support import ROOT
from ._file_support import (
    MIXER,
    check_listings,
    eager,
    journals,
    scanned,
    session_file,
    snapshots,
)

T0 = datetime(2031, 1, 1, tzinfo=UTC)


def info(session_id: str, agent: str, user: str | None, at: datetime, **more: Any) -> SessionInfo:
    return SessionInfo(
        id=session_id,
        agent=agent,
        user_id=user,
        created_at=at,
        updated_at=at,
        metadata={},
        **more,
    )


def line(at: int, session_id: str) -> bytes:
    """A journal line as a write records it."""
    text = b"%d %d %s" % (at, at, session_id.encode())
    return b"%s %08x\n" % (text, zlib.crc32(text))


def touch(store: FileStore, session_id: str, at: datetime) -> None:
    store.update_session(session_id, metadata={"at": at.isoformat()}, now=at, expires_at=None)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def store(base: Path) -> Iterator[FileStore]:
    with closing(FileStore(base)) as store:
        yield store


def populate(store: FileStore, count: int = 40) -> datetime:
    """Sessions of two agents and four owners, written in a shuffled order
    and at times that are not the order of the writes (a clock that goes
    back, ties); returns a time after all of them."""
    for n in range(count):
        agent, user = "ab"[n % 2], [None, "u1", "u2", "u3"][n // 2 % 4]
        store.create_session(info(f"s{n}", agent, user, T0 + timedelta(seconds=n % 7)))
    for n in range(0, count, 3):  # updates, some back in time, some to the same instant
        touch(store, f"s{(n * 7) % count}", T0 + timedelta(seconds=(n * 5) % 11))
    entry = prepare_entry("message", {"role": "user", "content": "hi"}, T0, None)
    store.append("s1", [entry], now=T0 + timedelta(seconds=30), expires_at=None, expected_head=None)
    store.delete_session("s2")
    return T0 + timedelta(seconds=60)


def test_listing_reads_the_journals_in_order_of_writes(base: Path, store: FileStore) -> None:
    now = populate(store)
    assert {p.relative_to(base).as_posix() for p in journals(base)} == {
        "a/.recent",
        "b/.recent",
        *(f".owners/{owner_key(u)}/{a}/.recent" for u in (None, "u1", "u2", "u3") for a in "ab"),
    }
    assert check_listings(store, now) == 39
    with closing(FileStore(base)) as fresh:  # a new process: nothing cached
        check_listings(fresh, now)


def test_a_write_killed_before_it_set_the_mtime_lists_by_its_row(
    base: Path, store: FileStore
) -> None:
    # A write puts its bytes, then sets the file's mtime to the updated_at
    # they hold. Killed in between, the file keeps the time the kernel gave
    # the bytes: from a coarser clock than updated_at's, or far below a
    # ``now`` the caller passed. Its journal line still has the updated_at.
    store.create_session(info("early", "a", "u1", T0))
    store.create_session(info("middle", "a", "u1", T0 + timedelta(seconds=5)))
    entry = prepare_entry("message", {"role": "user", "content": "hi"}, T0, None)
    later = T0 + timedelta(seconds=10)
    store.append("early", [entry], now=later, expires_at=None, expected_head=None)
    stale = time_ns(T0 + timedelta(seconds=1))
    os.utime(session_file(base, "early"), ns=(stale, stale))
    now = T0 + timedelta(seconds=60)
    for reader in (store, eager(FileStore(base))):
        with closing(reader):
            rows = reader.list_sessions(agent="a", user_id="u1", limit=1, offset=0, now=now)
            assert [(r.id, r.updated_at) for r in rows] == [("early", later)]
            check_listings(reader, now)


def test_expired_sessions_are_skipped_and_the_page_filled_from_older_ones(
    base: Path, store: FileStore
) -> None:
    for n in range(10):
        at = T0 + timedelta(seconds=n)
        expires = at + timedelta(seconds=5) if n >= 5 else None  # the newest expire first
        store.create_session(info(f"s{n}", "a", "u1", at, expires_at=expires))
    now = T0 + timedelta(seconds=30)
    rows = store.list_sessions(agent="a", user_id="u1", limit=3, offset=1, now=now)
    assert [r.id for r in rows] == ["s3", "s2", "s1"]
    check_listings(store, now)


def test_a_listing_reads_only_the_end_of_a_journal(base: Path, store: FileStore) -> None:
    now = populate(store, 200)
    # Damage a line near the start of the agent's journal: a listing of the
    # newest few never reads that far (no rebuild: the same file), a
    # listing of all of them does, and has the journal rebuilt.
    path = base / "a" / ".recent"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b"damaged\n"
    path.write_bytes(b"".join(lines))
    inode = path.stat().st_ino
    assert len(store.list_sessions(agent="a", user_id=UNCHECKED, limit=5, offset=0, now=now)) == 5
    assert path.stat().st_ino == inode and b"damaged" in path.read_bytes()
    every = store.list_sessions(agent="a", user_id=UNCHECKED, limit=1000, offset=0, now=now)
    assert path.stat().st_ino != inode and b"damaged" not in path.read_bytes()
    assert every == scanned(store, agent="a", user_id=UNCHECKED, limit=1000, offset=0, now=now)


def last_id(data: bytes) -> int:
    """Where the last line's session id starts."""
    start = data[:-1].rfind(b"\n") + 1
    return data.index(b" ", data.index(b" ", start) + 1) + 1


def flip(data: bytes, at: int) -> bytes:
    """``data`` with one bit of byte ``at`` changed (a digit stays a digit)."""
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


DAMAGE: dict[str, Callable[[bytes], bytes | None]] = {
    "deleted": lambda data: None,
    "empty": lambda data: b"",
    "garbage in the middle": lambda data: data[:60] + b"\x00garbage\xff\n" + data[60:],
    "a line out of order": lambda data: data + b"1 1 s5 %08x\n" % zlib.crc32(b"1 1 s5"),
    "a digit of its last bound changed": lambda data: flip(data, data[:-1].rfind(b"\n") + 1),
    "a letter of its last id changed": lambda data: flip(data, last_id(data)),
    "a compacted body cut short": lambda data: data[: len(data) // 2],
    "a torn last line": lambda data: data + b"99999999999999999999 9",
    "another header": lambda data: b"something else 1 - 0\n" + data.split(b"\n", 1)[1],
    "written before the machine last booted": lambda data: data.replace(
        data.split(b"\n", 1)[0], b"agentsession-recent 1 another-boot-id 0 0", 1
    ),
    "all its lines gone, after a reboot": lambda data: b"agentsession-recent 1 old-boot 0 0\n",
}


@pytest.mark.parametrize("first", ["a listing", "a write"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_journals_are_rebuilt(
    base: Path, store: FileStore, damage: str, first: str
) -> None:
    now = populate(store)
    if "compacted" in damage:  # journals rebuilt whole: their body is known
        for path in journals(base):
            path.unlink()
        check_listings(store, now)
    resized = False
    for path in journals(base):
        changed = DAMAGE[damage](path.read_bytes())
        resized = resized or changed is None or len(changed) != path.stat().st_size
        if changed is None:
            path.unlink()
        else:
            path.write_bytes(changed)
    if first == "a listing":
        with closing(FileStore(base)) as fresh:
            check_listings(fresh, now)
        check_listings(store, now)  # the store that wrote them, with its journals open
    later = now + timedelta(seconds=1)
    for step in range(30 if first == "a write" else 1):  # (more lines than were cut off)
        touch(store, "s7", later + timedelta(microseconds=step))
    store.create_session(info("new", "b", "u2", later))
    written = ["b", f".owners/{owner_key('u3')}/b", f".owners/{owner_key('u2')}/b"]
    for folder in written:
        header, *lines = (base / folder / ".recent").read_bytes().split(b"\n")
        assert header.startswith(b"agentsession-recent 1 ") and lines.pop() == b""
        # (A writer re-reads a journal another process changed the size of;
        # one changed in place, at the size it left, is repaired by readers.)
        assert all(parse(line) for line in lines) or (first == "a write" and not resized)
    with closing(FileStore(base)) as fresh:
        check_listings(fresh, later)
        rows = fresh.list_sessions(agent=None, user_id=UNCHECKED, limit=2, offset=0, now=later)
        assert [r.id for r in rows] == ["s7", "new"]
    check_listings(store, later)


def test_a_line_written_for_a_session_never_committed_changes_nothing(
    base: Path, store: FileStore
) -> None:
    now = populate(store)
    # A create that crashed after its journal line: the file was written, its
    # .ids link never was (and another whose file is gone too); an update
    # that crashed after its line, before its write (the line is ahead of
    # the session's mtime). Each line is the newest of its journals.
    (base / "a" / "leftover.jsonl").write_bytes(session_file(base, "s4").read_bytes())
    ahead = time_ns(now + timedelta(days=1))
    owner = base / ".owners" / owner_key(None) / "a"
    for path in (base / "a" / ".recent", owner / ".recent"):
        with path.open("ab") as f:
            for name in ("leftover", "never-written", "s4"):
                f.write(line(ahead, name))
    check_listings(store, now)
    with closing(FileStore(base)) as fresh:
        check_listings(fresh, now)
        rows = fresh.list_sessions(agent="a", user_id=None, limit=1, offset=0, now=now)
        assert rows == scanned(fresh, agent="a", user_id=None, limit=1, offset=0, now=now)


def test_a_leftover_file_of_another_agent_does_not_move_a_session(
    base: Path, store: FileStore
) -> None:
    now = populate(store)
    # A session file left under agent b by a crash, with the id of a's s4
    # and a newer mtime, named by b's journal: s4 lists at its own place.
    (base / "b" / "s4.jsonl").write_bytes(b"")
    stamp = time_ns(now)
    os.utime(base / "b" / "s4.jsonl", ns=(stamp, stamp))
    with (base / "b" / ".recent").open("ab") as f:
        f.write(line(stamp, "s4"))
    check_listings(store, now)


def test_a_journal_is_compacted_as_it_grows(base: Path, store: FileStore) -> None:
    store._engine.recent.slack = 2000
    for n in range(5):
        store.create_session(info(f"s{n}", "a", "u1", T0))
    for step in range(400):
        touch(store, f"s{step % 2}", T0 + timedelta(seconds=step))
    store.delete_session("s4")
    for step in range(400, 500):
        touch(store, "s3", T0 + timedelta(seconds=step))
    for path in journals(base):
        assert path.stat().st_size < 4000  # 500 writes, about 15 000 bytes of lines
        assert b" s4 " not in path.read_bytes()  # erased: dropped when compacted
    check_listings(store, T0 + timedelta(days=1))


def test_a_busy_session_does_not_bury_the_others(base: Path, store: FileStore) -> None:
    # One session written over and over among idle ones: the journal keeps
    # only its last lines, so a listing never reads through its history.
    store._engine.recent.slack = 10**9  # (no full compaction: the lines kept)
    store._engine.recent.tail = 3000
    for n in range(50):
        store.create_session(info(f"s{n}", "a", "u1", T0 + timedelta(seconds=n)))
    for step in range(1000):
        touch(store, "s7", T0 + timedelta(minutes=1, seconds=step))
    for path in journals(base):
        data = path.read_bytes()
        assert len(data) < 50 * 80 + 3000 + 200  # 1 050 lines written, about 75 000 bytes
        assert data.count(b" s7 ") < 3000 // 60
    now = T0 + timedelta(days=1)
    rows = store.list_sessions(agent="a", user_id="u1", limit=3, offset=0, now=now)
    assert [r.id for r in rows] == ["s7", "s49", "s48"]
    check_listings(store, now)


def test_writes_that_go_back_in_time_keep_the_order_exact(base: Path, store: FileStore) -> None:
    # A clock that goes back (another process's, a manager's own): the
    # journal's bounds keep growing, listing still orders by updated_at.
    times = [50, 10, 40, 10, 30, 20, 60, 0, 45, 45]
    for n, second in enumerate(times):
        store.create_session(info(f"s{n}", "a", None, T0 + timedelta(seconds=second)))
    for n, second in ((6, 5), (0, 70), (3, 45)):
        touch(store, f"s{n}", T0 + timedelta(seconds=second))
    now = T0 + timedelta(days=1)
    rows = store.list_sessions(agent="a", user_id=None, limit=4, offset=0, now=now)
    assert [r.id for r in rows] == ["s0", "s9", "s8", "s3"]
    check_listings(store, now)


def test_data_written_without_journals_lists_and_reads(tmp_path: Path) -> None:
    """A directory as this store wrote it before it kept journals and
    snapshots: only session files and links (here: this version's, with
    every index file deleted, and the folder of an earlier release)."""
    base = tmp_path / "old"
    with SessionManager(eager(FileStore(base))) as manager:
        made = []
        for n in range(12):
            session = manager.create("ab"[n % 2], user_id=[None, "u1", "u2"][n % 3])
            session.extend([{"role": "user", "content": f"{n} {i}"} for i in range(n)])
            made.append(session.id)
        manager.get(made[3]).append({"role": "user", "content": "latest"})
        expected = {sid: [m.data["content"] for m in manager.get(sid).messages()] for sid in made}
    assert snapshots(base)
    for path in [*journals(base), *snapshots(base)]:
        path.unlink()
    assert not journals(base)
    with closing(FileStore(base)) as store:
        assert check_listings(store) == 12
        manager = SessionManager(store)
        assert manager.list(limit=1)[0].id == made[3]
        for sid in made:
            assert [m.data["content"] for m in manager.get(sid).messages()] == expected[sid]
    legacy = tmp_path / "legacy"
    shutil.copytree(Path(__file__).parents[3] / "core" / "legacy" / "files", legacy)
    with SessionManager(FileStore(legacy)) as manager:
        (row,) = manager.list(user_id="alice")
        assert row.id == "legacy-session" and manager.list("legacy") == [row]
        assert manager.list("other") == [] and manager.list(user_id="bob") == []
    assert journals(legacy)  # made by the first listing


def test_two_processes_writing_at_once_leave_exact_listings(tmp_path: Path) -> None:
    base = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIXER, str(base), str(seed), "250", "eager"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for seed in (1, 2)
    ]
    with closing(FileStore(base)) as reader:  # listing while they write: never an error
        while any(p.poll() is None for p in procs):
            reader.list_sessions(
                agent=None, user_id=UNCHECKED, limit=5, offset=0, now=datetime.now(UTC)
            )
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out == b"done\n", err.decode()
    with closing(FileStore(base)) as store:
        assert check_listings(store) > 5
    for path in journals(base):
        path.unlink()
    with closing(FileStore(base)) as store:
        check_listings(store)


#: One random call of every kind a writer makes, ``write(manager, rng, n,
#: tag)``, shared by the killed writers below.
WRITE = """
from agentsession import AgentSessionError

def write(manager, rng, n, tag):
    try:
        rows = manager.list(limit=30)
        if rng.random() < 0.25 or not rows:
            manager.create(rng.choice("ab"), user_id=rng.choice(["u1", "u2", None]))
            return
        session = manager.get(rng.choice(rows).id)
        roll = rng.random()
        if roll < 0.6:
            session.extend([{"role": "user", "content": f"{tag} {n}"}] * rng.choice((1, 3)))
        elif roll < 0.8:
            session.update_metadata({"n": n})
        elif roll < 0.9:
            manager.rotate_id(session.id, user_id=rng.choice(["u1", "u3"]))
        else:
            manager.delete(session.id)
    except AgentSessionError:
        pass
"""

#: ``python -c WRITER BASE SEED``: writes until killed.
WRITER = (
    WRITE
    + """
import random, sys
from agentsession import SessionManager
from agentsession.stores.file._sync.store import FileStore
from tests.core.stores.file._file_support import eager

base, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
with SessionManager(eager(FileStore(base, max_open=2))) as manager:
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        write(manager, rng, n, seed)
"""
)

#: ``python -c CRASHER BASE LAST``: for each k up to LAST, a forked writer
#: killed at its k-th system call that changes a file (before the call),
#: then every listing checked; prints ``ok <calls the writers made>``.
CRASHER = (
    WRITE
    + """
import os, random, signal, sys
from contextlib import closing
from agentsession import SessionManager
from agentsession.stores.file._sync.store import FileStore
from tests.core.stores.file._file_support import check_listings, eager

CHANGES = ("write", "utime", "replace", "rename", "link", "symlink", "unlink",
           "ftruncate", "mkdir", "open")
base, last = sys.argv[1], int(sys.argv[2])
made = 0
for k in range(1, last + 1):
    pid = os.fork()
    if pid == 0:
        calls = 0
        def counted(name, real):
            def call(*args, **kwargs):
                global calls
                if name != "open" or args[1] & os.O_CREAT:
                    calls += 1
                    if calls == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)
            return call
        with SessionManager(eager(FileStore(base, max_open=2))) as manager:
            for name in CHANGES:
                setattr(os, name, counted(name, getattr(os, name)))
            rng = random.Random(k)
            for n in range(50):
                write(manager, rng, n, k)
        os._exit(3)  # (not killed: fewer calls than k)
    _, status = os.waitpid(pid, 0)
    made += os.WIFSIGNALED(status)
    with closing(eager(FileStore(base))) as store:
        try:
            check_listings(store)
        except AssertionError as failure:
            sys.exit(f"killed at call {k}: {failure!r}")
print("ok", made)
"""
)


def test_a_writer_killed_at_each_of_its_file_changes_leaves_exact_listings(
    tmp_path: Path,
) -> None:
    # Each of 120 forked writers is killed just before its k-th change to a
    # file, k = 1..120: every step of every kind of write, in turn, is the
    # one a crash interrupts, on the directory the crashes before left.
    base = tmp_path / "crashed"
    done = subprocess.run(
        [sys.executable, "-c", CRASHER, str(base), "120"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", "120"]


@pytest.mark.slow
def test_writers_killed_at_random_moments_leave_exact_listings(tmp_path: Path) -> None:
    base = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(20261204)
    for round_ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(base), str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=30)
        assert child.returncode < 0, err.decode()
        with closing(eager(FileStore(base))) as store:
            check_listings(store)
            for row in store.list_sessions(
                agent=None, user_id=UNCHECKED, limit=10**6, offset=0, now=datetime.now(UTC)
            ):
                store.read_path(row.id, now=datetime.now(UTC))
