"""The async ORM store passes the async conformance suite, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from agentsession.integrations.django.store import AsyncDjangoStore
from agentsession.testing import AsyncStoreConformance

from .ormstore import DATABASES, close_async_connections, tamper


@pytest.mark.django_db(transaction=True, databases=DATABASES)
class TestAsyncDjangoStore(AsyncStoreConformance):
    thread_safe = True

    @pytest_asyncio.fixture
    async def store(self, using: str) -> AsyncIterator[AsyncDjangoStore]:
        store = AsyncDjangoStore(using)
        yield store
        await store.close()
        await close_async_connections()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store, session_id, entry_id, data)
