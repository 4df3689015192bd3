"""Run workers concurrently: tasks on the async side (threads on the sync side)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["run_workers"]


async def run_workers(count: int, work: Callable[[int], Awaitable[None]]) -> None:
    """Run ``work(0) .. work(count - 1)`` at the same time; re-raise the first error."""
    await asyncio.gather(*(work(n) for n in range(count)))
