"""The conformance suite every store passes (async side).

Subclass it in your store's tests and provide a ``store`` fixture::

    class TestMyStore(AsyncStoreConformance):
        @pytest_asyncio.fixture
        async def store(self):
            store = AsyncMyStore(...)
            yield store
            await store.close()

        def tamper_entry(self, store, session_id, entry_id, data):  # optional
            ...  # rewrite the stored data directly

Capabilities a store cannot offer are declared on the class
(``thread_safe = False``) or by not defining ``tamper_entry``; the tests
that need them skip and say why.
"""

from __future__ import annotations

from typing import ClassVar  # unasync: remove

import pytest  # unasync: remove

from .history import AsyncHistoryTests
from .imports import AsyncImportTests
from .lifecycle import AsyncLifecycleTests
from .limits import AsyncLimitTests
from .search import AsyncSearchTests
from .store_calls import AsyncStoreCallTests

__all__ = ["AsyncStoreConformance"]


class AsyncStoreConformance(
    AsyncLifecycleTests,
    AsyncHistoryTests,
    AsyncLimitTests,
    AsyncImportTests,
    AsyncSearchTests,
    AsyncStoreCallTests,
):
    """Every behaviour of ``docs/design.md``, "Semantics", checked against the store under test."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]  # unasync: remove
