"""The file store's files: URL, layout, permissions, append-only writes, and
several store objects (as several processes would) on one directory."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsession import (
    AsyncSessionManager,
    InvalidInput,
    SessionManager,
    SessionNotFound,
    open_async_store,
    open_store,
)
from agentsession.stores.file._async.store import AsyncFileStore
from agentsession.stores.file._format import owner_key
from agentsession.stores.file._sync.store import FileStore
from agentsession.testing import StoreConformance

from ._file_support import EditsFiles, session_file


def msg(n: int | str) -> dict[str, Any]:
    return {"role": "user", "content": f"message {n}"}


def files(base: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``base`` (links not followed) -> (inode, size, mtime)."""
    found = {}
    for root, dirs, names in os.walk(base):
        for name in dirs + names:
            st = os.lstat(os.path.join(root, name))
            found[os.path.relpath(os.path.join(root, name), base)] = (
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
            )
    return found


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def manager(base: Path) -> Iterator[SessionManager]:
    with SessionManager(FileStore(base)) as manager:
        yield manager


def test_urls(tmp_path: Path) -> None:
    store = FileStore.from_url(f"file://{tmp_path}/a%20dir")
    assert isinstance(store, FileStore) and store.path == f"{tmp_path}/a dir"
    assert "fsync=False" in repr(store)
    assert "fsync=True" in repr(FileStore.from_url(f"file://{tmp_path}?fsync=true"))
    assert isinstance(open_store(f"file://{tmp_path}"), FileStore)
    assert isinstance(open_async_store(f"file://{tmp_path}"), AsyncFileStore)
    assert FileStore(tmp_path / "x").path == str(tmp_path / "x")
    for bad in ("file://relative/dir", "file:relative", f"file://{tmp_path}?sync=1", "sqlite:///x"):
        with pytest.raises(InvalidInput):
            FileStore.from_url(bad)
    assert not os.listdir(tmp_path)  # opening a store touches nothing


def test_human_readable_layout_and_permissions(base: Path, manager: SessionManager) -> None:
    user = "alice@example.com"
    session = manager.create("support-bot", user_id=user, metadata={"topic": "refund"})
    message = {"role": "user", "content": 'ü "quoted"', "z": [1, 2.5]}
    session.append(message)
    session.checkpoint("cp")
    path = base / "support-bot" / f"{session.id}.jsonl"
    assert session_file(base, session.id) == path
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["op"] for r in records] == ["session", "entry", "checkpoint"]
    assert records[0]["user_id"] == user and records[0]["metadata"] == {"topic": "refund"}
    assert records[1]["data"] == message
    assert '"data":{"content":"ü \\"quoted\\"","role":"user","z":[1,2.5]}}' in path.read_text()
    for name, _ in files(base).items():
        assert "alice" not in name  # user ids are hashed, never file names
    for root, dirs, names in os.walk(base):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700, d
        for n in names:
            st = os.lstat(os.path.join(root, n))
            if stat.S_ISREG(st.st_mode):
                assert stat.S_IMODE(st.st_mode) == 0o600, n
    assert stat.S_IMODE(base.stat().st_mode) == 0o700


def test_a_write_appends_to_its_file_and_its_journals_and_touches_nothing_else(
    base: Path, manager: SessionManager
) -> None:
    sessions = [manager.create("a", user_id=f"user{i % 3}") for i in range(12)]
    for s in sessions:
        s.append(msg(0))
    target = sessions[5]
    path = os.path.relpath(session_file(base, target.id), base)
    journals = ["a/.recent", f".owners/{owner_key(target.user_id)}/a/.recent"]
    for operation in (
        lambda: target.append(msg(1)),
        lambda: target.extend([msg(2), msg(3)]),
        lambda: target.update_state({"k": 1}),
        lambda: target.checkpoint("c"),
        lambda: target.pop(),
        lambda: target.update_metadata({"m": 2}),
        lambda: target.clear(),
    ):
        before, content = files(base), session_file(base, target.id).read_bytes()
        operation()
        after = files(base)
        assert after[path][0] == before[path][0]  # same file, not a rewrite
        assert session_file(base, target.id).read_bytes().startswith(content)
        del before[path], after[path]
        for journal in journals:  # one line more in each listing journal
            assert after[journal][0] == before[journal][0]
            assert 20 < after[journal][1] - before[journal][1] < 100
            del before[journal], after[journal]
        assert after == before  # no other session touched


def test_store_objects_sharing_a_directory(base: Path) -> None:
    with SessionManager(FileStore(base)) as one, SessionManager(FileStore(base)) as two:
        session = one.create("a", user_id="u")
        session.append(msg(1))
        seen = two.get(session.id)
        assert [m.data for m in seen.messages()] == [msg(1)]  # now cached in two
        seen.append(msg(2))
        assert [m.data for m in session.messages()] == [msg(1), msg(2)]  # one reads the new line
        assert session.refresh().revision == 2

        assert two.delete(session.id)
        with pytest.raises(SessionNotFound):
            session.messages()
        again = one.create("b", session_id=session.id)  # same id, another agent
        assert two.get(session.id).agent == "b" and two.get(session.id).messages() == []

        again.append(msg(3))
        moved = two.rotate_id(again.id, user_id="v")
        with pytest.raises(SessionNotFound):
            one.get(again.id)
        assert [m.data for m in one.get(moved.id).messages()] == [msg(3)]
        assert [i.id for i in one.list(user_id="v")] == [moved.id]
        assert one.list(user_id="u") == []


def test_many_sessions_with_few_open_files(base: Path) -> None:
    with SessionManager(FileStore(base, max_open=2)) as manager:
        sessions = [manager.create("a") for _ in range(5)]
        for round_ in range(3):
            for s in sessions:
                s.append(msg(f"{s.id} {round_}"))
        for s in sessions:
            assert [m.data for m in s.messages()] == [msg(f"{s.id} {r}") for r in range(3)]
        assert len(manager.list()) == 5


def test_leftovers_of_crashes_are_skipped_and_cleaned(base: Path, manager: SessionManager) -> None:
    live = manager.create("a", user_id="u")
    live.append(msg(1))
    # a session file whose creation never reached its .ids link
    (base / "a" / "orphan.jsonl").write_bytes(session_file(base, live.id).read_bytes())
    # a .ids link to nothing, and an owner link to nothing
    os.symlink("../a/gone.jsonl", base / ".ids" / "gone")
    os.symlink("../../../a/gone.jsonl", next((base / ".owners").iterdir()) / "a" / "gone")
    # an owner link left by a crash under another agent, naming the live session
    owner = next((base / ".owners").iterdir())
    (owner / "b").mkdir()
    os.symlink(f"../../../a/{live.id}.jsonl", owner / "b" / live.id)
    assert [i.id for i in manager.list()] == [live.id]
    assert [i.id for i in manager.list("a")] == [live.id]
    assert [i.id for i in manager.list(user_id="u")] == [live.id]
    assert manager.list("b", user_id="u") == []
    with pytest.raises(SessionNotFound):
        manager.get("orphan")
    assert manager.delete("gone") is False
    assert not os.path.lexists(base / ".ids" / "gone")
    made = manager.create("a", session_id="orphan")  # replaces the leftover file
    assert made.messages() == []
    assert manager.prune() == 0


@pytest.mark.asyncio
async def test_async_calls_leave_the_event_loop_free(base: Path) -> None:
    async with AsyncSessionManager(AsyncFileStore(base)) as manager:
        session = await manager.create("a")
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        await session.append({"role": "tool", "content": "x" * 3_000_000})
        during = ticks - start
        stop = True
        await task
        assert during > 0  # the loop kept running while the file was written


class TestFileStoreWithFsync(EditsFiles, StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FileStore]:
        store = FileStore(f"{tmp_path}/durable", fsync=True)
        yield store
        store.close()
