"""Fixtures and helpers shared by every part of the conformance suite."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._async.session import AsyncSession
from ..._models import SessionExport
from .._clock import FakeClock

__all__ = ["AsyncSuiteBase", "msg"]


def msg(n: int | str, role: str = "user") -> dict[str, Any]:
    """A small chat message."""
    return {"role": role, "content": f"message {n}"}


class AsyncSuiteBase:
    """What a store's test class provides, and the helpers the tests use.

    Provide a fixture named ``store`` returning a fresh, empty, open store.
    Optional: override :meth:`tamper_entry` (enables the integrity tests) and
    set ``thread_safe = False`` if one store object must not be shared
    between threads.
    """

    thread_safe: ClassVar[bool] = True
    manager_class: ClassVar[type[AsyncSessionManager]] = AsyncSessionManager

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        """Rewrite one stored entry's data behind the library's back."""
        pytest.skip(
            "capability 'tamper' not provided: define tamper_entry(store, session_id, "
            "entry_id, data) on the test class to run the integrity tests"
        )

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def manager(self, store: AsyncStore, clock: FakeClock) -> AsyncSessionManager:
        return self.manager_class(store, clock=clock)

    def manager_with(
        self, store: AsyncStore, clock: FakeClock, **defaults: Any
    ) -> AsyncSessionManager:
        return self.manager_class(store, clock=clock, **defaults)

    async def snapshot(self, manager: AsyncSessionManager, session_id: str) -> SessionExport:
        """Everything stored for one session, to prove an operation changed nothing."""
        return await manager.export_session(session_id)

    async def chat(self, manager: AsyncSessionManager, n: int, **create: Any) -> AsyncSession:
        """A session holding ``n`` messages."""
        session = await manager.create("assistant", **create)
        if n:
            await session.extend([msg(i) for i in range(n)])
        return session

    async def contents(self, session: AsyncSession) -> list[str]:
        return [str(m.data["content"]) for m in await session.messages()]

    @staticmethod
    def days(n: float) -> timedelta:
        return timedelta(days=n)
