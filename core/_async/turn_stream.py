"""``AsyncTurnStream``: an agent's chunks as they come, then its turn.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from .._exceptions import AgentSessionError
from .._turns import Turn

__all__ = ["AsyncTurnStream"]


class AsyncTurnStream:
    """What :meth:`AsyncSession.stream` returns: iterate it for the agent's
    chunks; once it is exhausted the turn is committed and :attr:`turn` set.
    Closing it (or dropping it) before the end writes nothing."""

    def __init__(
        self, chunks: Callable[[Callable[[Turn], None]], AsyncGenerator[object, None]]
    ) -> None:
        self._turn: Turn | None = None
        self._chunks = chunks(self._finish)

    def _finish(self, turn: Turn) -> None:
        self._turn = turn

    @property
    def turn(self) -> Turn:
        """The committed turn (``AgentSessionError`` before the stream ends)."""
        if self._turn is None:
            raise AgentSessionError("the turn is recorded when its stream has been read to the end")
        return self._turn

    def __aiter__(self) -> AsyncTurnStream:
        return self

    async def __anext__(self) -> object:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop the agent; nothing of this turn is written."""
        await self._chunks.aclose()

    async def __aenter__(self) -> AsyncTurnStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
