"""Fixtures and helpers shared by every part of the conformance suite."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._async.session import AsyncSession
from ..._models import SessionExport
from .._clock import FakeClock
from .recording import AsyncRecordingStore

__all__ = ["AsyncSuiteBase", "deface", "msg"]


def msg(n: int | str, role: str = "user") -> dict[str, Any]:
    """A small chat message."""
    return {"role": role, "content": f"message {n}"}


def deface(value: Any) -> None:
    """Change, in place, every field, dict and list reachable from ``value``
    (records, exports, JSON): a store that shares objects with its callers
    then shows the change on the next read."""
    if isinstance(value, dict):
        for item in list(value.values()):
            deface(item)
        value["defaced"] = True
    elif isinstance(value, list | tuple):
        for item in list(value):
            deface(item)
        if isinstance(value, list):
            value.append("defaced")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            setattr(value, field.name, _defaced(getattr(value, field.name)))


def _defaced(current: Any) -> Any:
    if isinstance(current, bool):
        return not current
    if isinstance(current, int | float):
        return current + 1000
    if isinstance(current, datetime):
        return current + timedelta(days=1)
    if current is None or isinstance(current, str):
        return "defaced"
    deface(current)
    return current


class AsyncSuiteBase:
    """What a store's test class provides, and the helpers the tests use.

    Provide a fixture named ``store`` returning a fresh, empty, open store.
    Optional: override :meth:`tamper_entry` (enables the integrity tests) and
    set ``thread_safe = False`` if one store object must not be shared
    between threads. Async suite only: set ``shared_across_loops = True`` if
    one store object may be used from several event loops at once (threads
    each running their own loop), to run the test that needs it. Set
    ``path_checksums = False`` for a store that does not keep each entry's
    path checksum (its entries then carry ``None``, and a checkpoint reads
    more of the path).
    """

    thread_safe: ClassVar[bool] = True
    path_checksums: ClassVar[bool] = True
    shared_across_loops: ClassVar[bool] = False  # unasync: remove
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

    def spied(
        self, store: AsyncStore, clock: FakeClock, **defaults: Any
    ) -> tuple[AsyncSessionManager, AsyncRecordingStore]:
        """A manager whose store records every call made to it."""
        spy = AsyncRecordingStore(store)
        return self.manager_with(cast(AsyncStore, spy), clock, **defaults), spy

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
