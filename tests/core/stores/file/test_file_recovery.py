"""The file store after crashes and edits: torn lines, damage, tampering.

Each test writes the bytes a crash or a person would leave, by hand, into a
real session file, then reopens it with a fresh store (as after a restart)
and, where it matters, with a store that had the session cached.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentsession import IntegrityError, InvalidInput, SessionManager
from agentsession.stores.file._sync.store import FileStore

from ._file_support import session_file


def msg(n: int | str) -> dict[str, Any]:
    return {"role": "user", "content": f"message {n}"}


def contents(manager: SessionManager, session_id: str) -> list[Any]:
    return [m.data["content"] for m in manager.get(session_id).messages()]


def lines(base: Path, session_id: str) -> list[bytes]:
    data = session_file(base, session_id).read_bytes()
    assert data.endswith(b"\n")
    return data.splitlines(keepends=True)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def manager(base: Path) -> Any:
    with SessionManager(FileStore(base)) as manager:
        yield manager


def chat(manager: SessionManager, n: int) -> str:
    session = manager.create("assistant")
    for i in range(n):
        session.append(msg(i))
    return session.id


def add_bytes(base: Path, session_id: str, data: bytes) -> None:
    with session_file(base, session_id).open("ab") as f:
        f.write(data)


TAILS: dict[str, Callable[[bytes], bytes]] = {
    "half a line": lambda last: last[: len(last) // 2],
    "zeros (power loss)": lambda last: b"\0" * 4096,
    "a damaged last line": lambda last: b'{"op":"entry","id":\xff\xfe garbage\n',
    "a batch without its closing line": lambda last: last.replace(b'"at":', b'"more":true,"x":'),
}


@pytest.mark.parametrize("tail", list(TAILS))
@pytest.mark.parametrize("cached", [False, True])
def test_a_torn_tail_is_ignored_then_cut_off(
    base: Path, manager: SessionManager, tail: str, cached: bool
) -> None:
    session_id = chat(manager, 3)
    clean = b"".join(lines(base, session_id))
    leftover = TAILS[tail](lines(base, session_id)[-1])
    add_bytes(base, session_id, leftover)

    with SessionManager(FileStore(base)) as fresh:
        reader = manager if cached else fresh
        assert contents(reader, session_id) == ["message 0", "message 1", "message 2"]
        session = reader.get(session_id)
        assert session.message_count == 3 and session.revision == 3
        head = session.head
        assert (
            session_file(base, session_id).read_bytes() == clean + leftover
        )  # reads repair nothing

        added = session.append(msg(3))
        assert added.parent_id == head
        assert session_file(base, session_id).read_bytes().startswith(clean)
        assert all(json.loads(line) for line in lines(base, session_id))
        assert len(lines(base, session_id)) == len(clean.splitlines()) + 1
    with SessionManager(FileStore(base)) as again:
        assert contents(again, session_id) == [f"message {i}" for i in range(4)]
        assert contents(manager, session_id) == [f"message {i}" for i in range(4)]


def test_an_unfinished_batch_never_shows(base: Path, manager: SessionManager) -> None:
    session_id = chat(manager, 1)
    session = manager.get(session_id)
    session.extend([msg("a"), msg("b"), msg("c")])
    start = lines(base, session_id)[:-1]
    # as if the kill came after the first two lines of the batch reached the file
    cut = b"".join(start[:-2])
    session_file(base, session_id).write_bytes(cut + start[-2] + start[-1][:10])
    with SessionManager(FileStore(base)) as fresh:
        assert contents(fresh, session_id) == ["message 0"]
        orphan = json.loads(start[-2])["id"]
        with pytest.raises(InvalidInput):
            fresh.get(session_id).switch(orphan)
        fresh.get(session_id).append(msg(1))
        assert contents(fresh, session_id) == ["message 0", "message 1"]
    assert orphan.encode() not in session_file(base, session_id).read_bytes()


def test_damage_in_the_middle_is_an_integrity_error(base: Path, manager: SessionManager) -> None:
    session_id = chat(manager, 3)
    data = lines(base, session_id)
    data[2] = b"this line was damaged\n"
    session_file(base, session_id).write_bytes(b"".join(data))
    with SessionManager(FileStore(base)) as fresh, pytest.raises(IntegrityError):
        fresh.get(session_id)


@pytest.mark.parametrize("cached", [False, True])
def test_an_entry_altered_in_the_file_fails_restore(
    base: Path, manager: SessionManager, cached: bool
) -> None:
    session = manager.create("assistant")
    first = session.append(msg(1))
    session.append(msg(2))
    point = session.checkpoint("before the edit")
    assert contents(manager, session.id) == ["message 1", "message 2"]
    # an edit in place that keeps the length (the inode and size stay too)
    path = session_file(base, session.id)
    text = path.read_bytes()
    assert text.count(b'"content":"message 1"') == 1
    with path.open("r+b") as f:
        f.write(text.replace(b'"content":"message 1"', b'"content":"massage 1"'))
    with SessionManager(FileStore(base)) as fresh:
        reader = manager if cached else fresh
        victim = reader.get(session.id)
        assert victim.messages()[0].data["content"] == "massage 1"  # reads show the file
        with pytest.raises(IntegrityError):
            victim.restore(point.id)
        assert victim.head == point.entry_id  # restore changed nothing
        assert first.id == victim.messages()[0].id


def test_an_edit_that_moves_lines_is_detected(base: Path, manager: SessionManager) -> None:
    session = manager.create("assistant")
    for i in range(3):
        session.append(msg(i))
    point = session.checkpoint()
    path = session_file(base, session.id)
    text = path.read_bytes()
    with path.open("r+b") as f:  # longer text, same inode: every later line moves
        f.write(text.replace(b'"content":"message 0"', b'"content":"message zero"'))
    with pytest.raises(IntegrityError):
        session.restore(point.id)


def test_a_five_megabyte_line_round_trips(base: Path, manager: SessionManager) -> None:
    output = {"role": "tool", "content": "".join(chr(32 + i % 90) for i in range(5_000_000))}
    session = manager.create("assistant")
    session.append(msg("before"))
    entry = session.append(output)
    session.append(msg("after"))
    assert session.messages()[1].data == output
    with SessionManager(FileStore(base)) as fresh:
        found = fresh.get(session.id)
        assert [m.id for m in found.messages()] == [m.id for m in session.messages()]
        assert found.messages()[1].data == output
        found.restore(found.checkpoint().id)
    assert max(len(line) for line in lines(base, session.id)) > 5_000_000
    assert entry.id in session_file(base, session.id).read_text()


def test_text_utf8_cannot_hold_is_refused_before_the_files(
    base: Path, manager: SessionManager
) -> None:
    # Lone surrogates are valid in a str but not in UTF-8: refused everywhere
    # before any line is written, so every file stays valid UTF-8.
    odd = {"lone": "\ud800 and \udfff", "key\udc80": ["\u00fc", "\\\ud801"]}
    with pytest.raises(InvalidInput):
        manager.create("assistant", metadata=odd)
    assert manager.list() == []
    session = manager.create("assistant", metadata={"fine": "\u00fc \U0001f600"})
    session.append(msg(1))
    before = session_file(base, session.id).read_bytes()
    with pytest.raises(InvalidInput):
        session.checkpoint("odd", odd)
    with pytest.raises(InvalidInput):
        session.update_metadata(odd)
    with pytest.raises(InvalidInput):
        session.append({"role": "user", "content": "\udfff"})
    assert session_file(base, session.id).read_bytes() == before
    with SessionManager(FileStore(base)) as fresh:
        found = fresh.get(session.id)
        assert found.metadata == {"fine": "\u00fc \U0001f600"}
        assert found.checkpoints() == [] and len(found.messages()) == 1
    before.decode("utf-8")  # still valid UTF-8


def test_a_repair_by_another_process_is_seen_even_at_the_same_size(
    base: Path, manager: SessionManager
) -> None:
    session_id = chat(manager, 2)
    committed = session_file(base, session_id).stat().st_size
    add_bytes(base, session_id, b'{"op":"entry","id":"torn' + b"x" * 100)
    assert contents(manager, session_id) == ["message 0", "message 1"]  # cached, torn tail seen
    # another process cuts the tail off and appends a line of exactly its length
    size = session_file(base, session_id).stat().st_size
    line = b'{"op":"metadata","at":"2030-01-01T00:00:00+00:00","expires_at":null,"patch":{"p":"'
    pad = size - committed - len(line) - 4
    line += b"y" * pad + b'"}}\n'
    with session_file(base, session_id).open("r+b") as f:
        f.truncate(committed)
        f.seek(committed)
        f.write(line)
    assert session_file(base, session_id).stat().st_size == size
    session = manager.get(session_id)
    assert session.metadata == {"p": "y" * pad}
    session.append(msg(2))  # must not cut the other process's line off
    assert line in session_file(base, session_id).read_bytes()
    with SessionManager(FileStore(base)) as fresh:
        assert fresh.get(session_id).metadata == session.metadata
        assert contents(fresh, session_id) == [f"message {i}" for i in range(3)]
