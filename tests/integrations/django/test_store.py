"""The ORM store passes the sync conformance suite, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentsession.integrations.django.store import DjangoStore
from agentsession.sealed import SealedStore
from agentsession.testing import StoreConformance
from tests.core.test_sealed_conformance import options

from .ormstore import DATABASES, ThreadTidyStore, tamper


@pytest.mark.django_db(transaction=True, databases=DATABASES)
class TestDjangoStore(StoreConformance):
    thread_safe = True

    @pytest.fixture
    def store(self, using: str) -> Iterator[DjangoStore]:
        store = ThreadTidyStore(using)
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store, session_id, entry_id, data)


@pytest.mark.slow  # the full py311 env runs it
@pytest.mark.django_db(transaction=True, databases=DATABASES)
class TestSealedDjangoStore(StoreConformance):
    """The ORM store wrapped in a sealed store: compressed, encrypted, both."""

    thread_safe = True

    @pytest.fixture(params=["compressed", "encrypted", "both"])
    def store(self, using: str, request: pytest.FixtureRequest) -> Iterator[SealedStore]:
        store = SealedStore(ThreadTidyStore(using), **options(request.param))
        yield store
        store.close()

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(store.inner, session_id, entry_id, data)
