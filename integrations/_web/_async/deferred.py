"""A store that holds back the creation of a session until its first write.

The lazy handle creates a session with its first write. Through this store
the manager's ``create`` stores nothing yet: the row goes to the real store
just before the next call (the write itself), or on :meth:`flush`. A write
that its own checks refuse before any store call leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentsession import AsyncStore, SessionInfo
from agentsession.store import AsyncBridge

__all__ = ["AsyncDeferredCreate"]


class _Direct:
    async def run(self, fn: Callable[[], Any]) -> Any:
        return await fn()

    async def close(self, fn: Callable[[], None]) -> None:
        fn()


class AsyncDeferredCreate(AsyncBridge):
    """``store`` with ``create_session`` held until the next call or :meth:`flush`."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        self._held: SessionInfo | None = None
        self.flushed = False
        super().__init__(self._resolve, _Direct(), lambda: None)

    def _resolve(self, name: str) -> Callable[..., Any]:
        if name == "create_session":
            return self._hold
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self.flush()
            return await method(*args, **kwargs)

        return call

    async def _hold(self, info: SessionInfo) -> None:
        self._held = info

    async def flush(self) -> None:
        """Create the held session, if any, in the real store."""
        info, self._held = self._held, None
        if info is not None:
            self.flushed = True
            await self._store.create_session(info)
