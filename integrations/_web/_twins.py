"""What the async and sync handles spell differently, under twin names.

The async source uses ``async_lock()`` and ``AsyncReader``; ``scripts/unasync.py``
turns them into ``sync_lock()`` and ``Reader`` in the generated twin.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from agentsession._async.session import AsyncSession
from agentsession._sync.session import Session

__all__ = ["AsyncReader", "Reader", "async_lock", "sync_lock"]

T = TypeVar("T")

#: A read on a session: ``lambda s: s.messages(limit)``.
AsyncReader: TypeAlias = Callable[[AsyncSession], Awaitable[T]]
Reader: TypeAlias = Callable[[Session], T]


def async_lock() -> asyncio.Lock:
    return asyncio.Lock()


def sync_lock() -> threading.Lock:
    return threading.Lock()
