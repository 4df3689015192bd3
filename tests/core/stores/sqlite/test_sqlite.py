"""The SQLite store: the conformance suite (sync and async) on real files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agentsession.store import canonical_json
from agentsession.stores.sqlite._async.store import AsyncSQLiteStore
from agentsession.stores.sqlite._sync.store import SQLiteStore
from agentsession.testing import AsyncStoreConformance, StoreConformance


def tamper(path: str, session_id: str, entry_id: str, data: dict[str, Any]) -> None:
    """Rewrite one entry's data with a separate connection, as an attacker would."""
    with sqlite3.connect(path) as conn:
        changed = conn.execute(
            "UPDATE agentsession_entries SET data = ? WHERE id = ? AND session_pk ="
            " (SELECT pk FROM agentsession_sessions WHERE id = ?)",
            (canonical_json(data), entry_id, session_id),
        ).rowcount
    conn.close()
    assert changed == 1


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "sessions.db")
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.path, session_id, entry_id, data)


class TestAsyncSQLiteStore(AsyncStoreConformance):
    shared_across_loops = True  # its own worker thread: no loop-bound connection

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[AsyncSQLiteStore]:
        store = AsyncSQLiteStore(tmp_path / "sessions.db")
        yield store
        await store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.path, session_id, entry_id, data)


def test_restore_checks_the_stored_bytes_not_just_the_data(tmp_path: Path) -> None:
    """The same data written back in another JSON layout is not what was
    checkpointed: restore hashes the stored text itself (no decode, no re-encode)."""
    from agentsession import IntegrityError, SessionManager

    path = tmp_path / "s.db"
    with SessionManager(SQLiteStore(path)) as manager:
        s = manager.create("bot")
        first = s.append({"role": "user", "content": "hi"})
        point = s.checkpoint()
        s.append({"role": "assistant", "content": "hello"})
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE agentsession_entries SET data = ? WHERE id = ?",
                (json.dumps({"role": "user", "content": "hi"}, indent=1), first.id),
            )
        conn.close()
        assert s.messages()[0].data == {"role": "user", "content": "hi"}  # reads still work
        with pytest.raises(IntegrityError, match="digest"):
            s.restore(point.id)
        assert len(s.messages()) == 2  # the head did not move


def test_a_page_decodes_as_its_rows_would() -> None:
    from agentsession import IntegrityError
    from agentsession.stores.sqlite._schema import row_to_entry, rows_to_entries

    def row(i: int, text: str | None, created: int = 1_700_000_000_000_000) -> tuple[Any, ...]:
        return (
            f"e{i}",
            f"e{i - 1}" if i else None,
            "message",
            created,
            i + 1,
            i + 1,
            "d",
            "c",
            text,
        )

    page = [row(i, canonical_json({"n": i, "s": "a,b]"}), created=10 + i // 2) for i in range(6)]
    assert rows_to_entries(page) == [row_to_entry(r) for r in page]
    assert {e.checksum for e in rows_to_entries(page)} == {"c"}
    assert rows_to_entries([row(0, None)])[0].data == {}
    # Text that would shift the page (two objects in one row, none in another)
    # or is no object at all: decoded row by row, which names the damage.
    for texts in (['{"a":1},{"b":2}', '{"c":"'], ['{"a":"', '"}'], ["[1]", "{}"]):
        with pytest.raises(IntegrityError):
            rows_to_entries([row(i, t) for i, t in enumerate(texts)])
