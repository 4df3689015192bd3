"""The JSONL file store: the conformance suite (sync and async) on real files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agentsession.stores.file._async.store import AsyncFileStore
from agentsession.stores.file._sync.store import FileStore
from agentsession.testing import AsyncStoreConformance, StoreConformance

from ._file_support import tamper


class TestFileStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FileStore]:
        store = FileStore(tmp_path / "sessions")
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.path, session_id, entry_id, data)


class TestAsyncFileStore(AsyncStoreConformance):
    shared_across_loops = True  # file locks and threads: no loop-bound connection

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[AsyncFileStore]:
        store = AsyncFileStore(tmp_path / "sessions")
        yield store
        await store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.path, session_id, entry_id, data)
