"""A store wrapper that records every call, to prove a call never reached the store."""

from __future__ import annotations

from typing import Any

from ..._async.protocol import AsyncStore

__all__ = ["AsyncRecordingStore"]


class AsyncRecordingStore:
    """Delegates to ``inner`` and appends the name of each method called to
    :attr:`calls` (not a mock: the real store does the work)."""

    def __init__(self, inner: AsyncStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name.startswith("_") or not callable(method):
            return method

        async def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return record
