"""The JSONL file store: the conformance suite (sync and async) on real files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentsession.stores.file._async.store import AsyncFileStore
from agentsession.stores.file._sync.store import FileStore
from agentsession.testing import AsyncStoreConformance, StoreConformance

from ._file_support import EditsFiles, eager


class TestFileStore(EditsFiles, StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FileStore]:
        store = FileStore(tmp_path / "sessions")
        yield store
        store.close()


class TestAsyncFileStore(EditsFiles, AsyncStoreConformance):
    shared_across_loops = True  # file locks and threads: no loop-bound connection

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[AsyncFileStore]:
        store = AsyncFileStore(tmp_path / "sessions")
        yield store
        await store.close()


class TestFileStoreFromSnapshots(EditsFiles, StoreConformance):
    """Every session reopened from its snapshot at almost every call: one open
    file at a time, a snapshot after every write, journals compacted often."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FileStore]:
        store = eager(FileStore(tmp_path / "sessions", max_open=1))
        yield store
        store.close()
