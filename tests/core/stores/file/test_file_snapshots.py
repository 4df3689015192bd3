"""The file store's session snapshots (``docs/design.md``, "File store indexes").

A store that opens a session from its snapshot must read exactly what a
store replaying the whole file reads (:func:`replayed`), whatever became of
the snapshot (deleted, damaged, another session's, from another machine) or
of the session file since it was taken (appended to by another process,
rotated, imported over, rewritten, cut short, edited in place).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentsession import AgentSessionError, IntegrityError, SessionManager
from agentsession.stores.file._sync.store import FileStore

from .._process_support import ROOT
from ._file_support import eager, session_file, snapshots, tamper

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def msg(n: int | str) -> dict[str, Any]:
    return {"role": "user", "content": f"message {n}", "pad": "x" * 40}


def replaying(store: FileStore) -> FileStore:
    """``store`` neither reading nor writing snapshots: every file replayed whole."""
    store._engine._files.snapshots = None
    return store


def attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except AgentSessionError as exc:
        return type(exc)


def describe(store: FileStore, session_id: str) -> dict[str, Any]:
    """Everything the store says about one session."""
    found: dict[str, Any] = {"row": attempt(lambda: store.get_session(session_id, now=NOW))}
    if isinstance(found["row"], type):
        return found
    path = store.read_path(session_id, now=NOW)[1]
    found["path"] = path
    found["messages"] = store.read_path(session_id, now=NOW, kind="message")
    found["last messages"] = store.read_path(session_id, now=NOW, limit=3, kind="message")
    found["states"] = store.read_path(session_id, now=NOW, kind="state")
    if len(path) > 5:
        before = path[-5].id
        found["page"] = store.read_path(session_id, now=NOW, before=before, limit=4)
        found["entry"] = store.get_entry(session_id, path[2].id, now=NOW)
    _, leaves = store.list_leaves(session_id, now=NOW)
    found["leaves"] = sorted(leaves, key=lambda e: e.id)
    found["checkpoints"] = store.list_checkpoints(session_id, now=NOW)
    found["export"] = store.export_session(session_id, now=NOW)
    return found


def replayed(base: Path, session_id: str) -> dict[str, Any]:
    with closing(replaying(FileStore(base))) as store:
        return describe(store, session_id)


def build(base: Path, entries: int = 60) -> str:
    """A session with branches, state, checkpoints, head moves and metadata,
    its snapshot written (the store writes one after every call)."""
    with SessionManager(eager(FileStore(base)), clock=lambda: NOW) as manager:
        session = manager.create("assistant", user_id="alice")
        session.extend([msg(i) for i in range(entries // 4)])
        session.update_metadata({"phase": "one"})
        session.extend([msg(i) for i in range(entries // 4, entries // 2)])
        session.update_state({"step": 1})
        early = session.checkpoint("early")
        session.extend([msg(f"lost {i}") for i in range(5)])
        session.restore(early.id)
        session.extend([msg(i) for i in range(entries // 2, entries)])
        session.update_metadata({"topic": "snapshots"})
        session.checkpoint("late")
        session.pop()
        return session.id


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def session_id(base: Path) -> str:
    made = build(base)
    assert [p.name for p in snapshots(base)] == [made]
    return made


def check_same(base: Path, session_id: str) -> dict[str, Any]:
    """A fresh store that may read snapshots reads what a replay reads; so
    does it after a write, and a store opened after that."""
    expected = replayed(base, session_id)
    with closing(eager(FileStore(base))) as store:
        assert describe(store, session_id) == expected
        if not isinstance(expected["row"], type):
            store.update_session(session_id, metadata={"after": 1}, now=NOW, expires_at=None)
    again = replayed(base, session_id)
    with closing(FileStore(base)) as store:
        assert describe(store, session_id) == again
    return expected


def test_a_new_store_reads_the_snapshot_and_replays_only_what_follows(
    base: Path, session_id: str
) -> None:
    check_same(base, session_id)
    # The snapshot spares replaying what it covers: an early line damaged in
    # place (the same length) is not read by a read of the last messages...
    path = session_file(base, session_id)
    data = path.read_bytes()
    start = data.index(b'"content":"message 20"')
    assert 4096 < start < len(data) - 4096  # (the snapshot checks both ends)
    path.write_bytes(data[:start] + b"\0" * 22 + data[start + 22 :])
    with closing(eager(FileStore(base))) as store:
        last = store.read_path(session_id, now=NOW, limit=2, kind="message")[1]
        assert [e.data["content"] for e in last] == ["message 57", "message 58"]  # (59: popped)
        # ...and reported by any call that reads it, as a replay reports it.
        with pytest.raises(IntegrityError):
            store.read_path(session_id, now=NOW)
    with closing(replaying(FileStore(base))) as store, pytest.raises(IntegrityError):
        store.get_session(session_id, now=NOW)


APPENDER = """
import sys
from datetime import UTC, datetime
from agentsession import SessionManager
from agentsession.stores.file._sync.store import FileStore

with SessionManager(FileStore(sys.argv[1])) as manager:
    session = manager.get(sys.argv[2])
    for n in range(int(sys.argv[3])):
        session.append({"role": "user", "content": f"from another process {n}"})
    session.update_metadata({"other": True})
"""


def test_lines_another_process_appended_after_the_snapshot_are_read(
    base: Path, session_id: str
) -> None:
    snapshot = snapshots(base)[0].read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-c", APPENDER, str(base), session_id, "3"], check=True, env=env
    )
    assert snapshots(base)[0].read_bytes() == snapshot  # (not eager: no new one)
    found = check_same(base, session_id)
    messages = [e.data.get("content") for e in found["path"] if e.kind == "message"]
    assert messages[-3:] == [f"from another process {n}" for n in range(3)]
    assert found["row"].metadata["other"] is True


def _field(header: bytes, name: str, value: Any) -> bytes:
    """The snapshot's header line with one field changed and its CRC right."""
    magic, _, rest = header.partition(b" 1 ")
    text = rest[9:].rstrip(b"\n")
    fields = json.loads(text)
    fields[name] = value
    text = json.dumps(fields, separators=(",", ":")).encode()
    return magic + b" 1 " + b"%08x " % zlib.crc32(text) + text + b"\n"


def _header_changed(name: str, value: Any) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        header, _, rest = data.partition(b"\n")
        return _field(header + b"\n", name, value) + rest

    return change


def _flip(where: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        at = where(data)
        return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]

    return change


def _in_part(which: str, part: Callable[[int], int]) -> Callable[[bytes], int]:
    """Where in a snapshot file: ``part(length)`` bytes into its first block
    (``which="block"``) or its checkpoints."""

    def where(data: bytes) -> int:
        end = data.index(b"\n")
        fields = json.loads(data[len(b"agentsession-snapshot 1 ") + 9 : end])
        offset, length, _ = fields["blocks"][0] if which == "block" else fields[which]
        return int(end + 1 + offset + part(length))

    return where


SNAPSHOT_DAMAGE: dict[str, Callable[[bytes], bytes | None]] = {
    "deleted": lambda data: None,
    "emptied": lambda data: b"",
    "cut short": lambda data: data[: len(data) * 2 // 3],
    "a byte of its header changed": _flip(lambda data: 40),
    "a byte of its tree changed": _flip(_in_part("block", lambda length: 20)),
    "a byte of its ids changed": _flip(_in_part("block", lambda length: length - 30)),
    "a byte of its checkpoints changed": _flip(_in_part("checkpoints", lambda length: length // 2)),
    "from a machine of the other byte order": _header_changed(
        "order", "big" if sys.byteorder == "little" else "little"
    ),
    "saying the file is longer": _header_changed("end", 10**9),
    "of another inode": _header_changed("inode", 1),
}


@pytest.mark.parametrize("damage", list(SNAPSHOT_DAMAGE))
def test_a_damaged_snapshot_is_not_trusted(base: Path, session_id: str, damage: str) -> None:
    path = snapshots(base)[0]
    changed = SNAPSHOT_DAMAGE[damage](path.read_bytes())
    if changed is None:
        path.unlink()
    else:
        path.write_bytes(changed)
    check_same(base, session_id)


def test_another_sessions_snapshot_is_not_trusted(base: Path, session_id: str) -> None:
    other = build(base, entries=80)
    shutil.copy(Path(base, ".snapshots", other), Path(base, ".snapshots", session_id))
    check_same(base, session_id)
    check_same(base, other)


def _rotate(base: Path, session_id: str) -> str:
    with SessionManager(FileStore(base), clock=lambda: NOW) as manager:
        return manager.rotate_id(session_id, user_id="bob").id


def _import_over(base: Path, session_id: str) -> str:
    # The same id, a new file: exported, erased, cut to half, imported.
    with SessionManager(FileStore(base), clock=lambda: NOW) as manager:
        export = manager.export_session(session_id)
        manager.delete(session_id)
        fewer = export.entries[: len(export.entries) // 2]  # (by depth: parents stay)
        kept = {e.id for e in fewer}
        head = fewer[-1]
        row = dataclasses.replace(export.session, head=head.id, message_count=head.message_index)
        points = tuple(c for c in export.checkpoints if c.entry_id in kept)
        manager.import_session(
            dataclasses.replace(export, session=row, entries=fewer, checkpoints=points)
        )
    return session_id


def _cut_short(base: Path, session_id: str) -> str:
    path = session_file(base, session_id)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-6]))  # the same inode, shorter than ``end``
    return session_id


def _edited_at_the_end(base: Path, session_id: str) -> str:
    path = session_file(base, session_id)
    start = path.read_bytes().rindex(b'"topic":"snapshots"')
    with path.open("r+b") as f:  # the same inode and size; the row it says changed
        f.seek(start)
        f.write(b'"topic":"snapshotz"')
    return session_id


def _edited_in_the_middle(base: Path, session_id: str) -> str:
    path = session_file(base, session_id)
    data = path.read_bytes()
    assert len(data) > 3 * 4096
    start = data.index(b'"content":"message 40"')
    with path.open("r+b") as f:  # longer text, the same inode: every later line moves
        f.write(data[:start] + b'"content":"message forty"' + data[start + 22 :])
    return session_id


def _lines_swapped(base: Path, session_id: str) -> str:
    path = session_file(base, session_id)
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if b'"content":"message 20"' in line)
    assert len(lines[first]) == len(lines[first + 1])  # (message 20, message 21)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    data = b"".join(lines)
    with path.open("r+b") as f:  # the same inode, size, start and end: seen when read
        f.write(data)
    return session_id


def _rewritten(base: Path, session_id: str) -> str:
    path = session_file(base, session_id)
    record = json.loads(path.read_bytes().splitlines()[3])
    tamper(base, session_id, record["id"], {"role": "user", "content": "rewritten"})
    return session_id


def _middle_rewritten(base: Path, session_id: str) -> str:
    # Saved by an editor (a new inode): the same length, both ends the same,
    # a metadata patch in the middle changed.
    path = session_file(base, session_id)
    data = path.read_bytes()
    start = data.index(b'"phase":"one"')
    assert 4096 < start < len(data) - 4096
    path.with_suffix(".edited").write_bytes(data.replace(b'"phase":"one"', b'"phase":"two"'))
    os.replace(path.with_suffix(".edited"), path)
    return session_id


def _kind_changed(base: Path, session_id: str) -> str:
    # In place, the same length: each line where it was, one entry of another kind.
    path = session_file(base, session_id)
    data = path.read_bytes()
    start = data.index(b'"kind":"message"', data.index(b'"content":"message 25"') - 400)
    assert 4096 < start < len(data) - 4096
    with path.open("r+b") as f:
        f.seek(start)
        f.write(b'"kind":"messagf"')
    return session_id


FILE_CHANGES: dict[str, Callable[[Path, str], str]] = {
    "rotated": _rotate,
    "imported over": _import_over,
    "rewritten by an editor (a new inode)": _rewritten,
    "its middle rewritten by an editor (a new inode)": _middle_rewritten,
    "an entry's kind changed in place": _kind_changed,
    "cut short": _cut_short,
    "edited in place at its end": _edited_at_the_end,
    "edited in place in the middle": _edited_in_the_middle,
    "two lines swapped in the middle": _lines_swapped,
}


@pytest.mark.parametrize("change", list(FILE_CHANGES))
def test_a_snapshot_of_a_file_since_changed_is_not_trusted(
    base: Path, session_id: str, change: str
) -> None:
    before = replayed(base, session_id)
    now_id = FILE_CHANGES[change](base, session_id)
    found = check_same(base, now_id)
    if change != "rotated":
        assert found != before  # (two swapped lines: a parent after its child, a leaf)
    if change == "edited in place in the middle":
        contents = [e.data.get("content") for e in found["path"]]
        assert "message forty" in contents


def test_a_store_that_had_the_session_open_sees_the_changes_too(
    base: Path, session_id: str
) -> None:
    with closing(eager(FileStore(base))) as store:
        describe(store, session_id)  # opened from the snapshot, now cached
        _import_over(base, session_id)
        assert describe(store, session_id) == replayed(base, session_id)


@pytest.mark.parametrize("entries", [20, 400])
def test_a_long_session_has_one_without_being_asked(tmp_path: Path, entries: int) -> None:
    base = tmp_path / "sessions"
    with SessionManager(FileStore(base), clock=lambda: NOW) as manager:
        session = manager.create("assistant")
        for start in range(0, entries, 20):
            session.extend([msg(start + i) for i in range(20)])
        assert snapshots(base) == []  # small: replayed whole in no time
    size = session_file(base, session.id).stat().st_size
    assert [p.name for p in snapshots(base)] == ([session.id] if size >= 64 << 10 else [])
    check_same(base, session.id)


def test_a_long_history_reads_only_the_blocks_it_reaches(base: Path) -> None:
    with SessionManager(eager(FileStore(base)), clock=lambda: NOW) as manager:
        session = manager.create("assistant")
        session.extend([msg(i) for i in range(50)])
        early = session.checkpoint("early")
        for start in range(50, 10_000, 1_000):
            session.extend([msg(i) for i in range(start, min(start + 1_000, 10_000))])
        session_id = session.id
    expected = check_same(base, session_id)
    assert len(expected["path"]) == 10_000
    # The middle block (entries 4096-8191) damaged: the last messages and a
    # restore of the early checkpoint do not reach it; a whole path does,
    # and is then read as a replay reads it.
    path = snapshots(base)[0]
    path.write_bytes(_flip(_in_part("block", lambda length: length + 100))(path.read_bytes()))
    with closing(eager(FileStore(base))) as store:
        last = store.read_path(session_id, now=NOW, limit=2, kind="message")[1]
        assert [e.data["content"] for e in last] == ["message 9998", "message 9999"]
        _, early_path = store.get_checkpoint(session_id, early.id, now=NOW, with_path=True)
        assert [e.id for e in early_path] == [e.id for e in expected["path"][:50]]
        assert path.exists()  # (nothing read the damaged block yet)
        assert describe(store, session_id) == replayed(base, session_id)
        assert not path.exists()  # dropped when found damaged, then written anew


def test_lines_without_path_checksums_behind_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lines as the release before path checksums wrote them, with a snapshot
    # over them; reopened in place (same file, same inode), the snapshot is
    # used and the older entries come from their lines: without checksums.
    from agentsession.store import chain_checksum, place_entries
    from agentsession.stores.file import _engine

    placed = place_entries

    def without_checksums(*args: Any, **kwargs: Any) -> Any:
        return [dataclasses.replace(e, checksum=None) for e in placed(*args, **kwargs)]

    with monkeypatch.context() as old:
        old.setattr(_engine, "place_entries", without_checksums)
        with SessionManager(eager(FileStore(tmp_path))) as manager:
            s = manager.create("bot")
            s.extend([msg(n) for n in range(20)])
            session_id = s.id
    assert snapshots(tmp_path)
    with SessionManager(eager(FileStore(tmp_path))) as manager:
        s = manager.get(session_id)
        before = s.entries()
        assert {e.checksum for e in before[1:]} == {None}
        # A checkpoint of such a head reads the path; the value is the same.
        digests = [e.digest for e in before]
        assert s.checkpoint().checksum == chain_checksum(digests)
        # An append under it computes the head's once: what it writes carries theirs.
        s.append(msg("new"))
        new = s.entries()[-1]
        assert new.checksum == chain_checksum([*digests, new.digest])
        assert s.checkpoint().checksum == new.checksum
