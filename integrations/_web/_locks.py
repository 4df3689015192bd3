"""The one thing the async and sync handles do differently: their lock.

The async source calls ``async_lock()``; ``scripts/unasync.py`` turns that into
``sync_lock()`` in the generated twin.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["async_lock", "sync_lock"]


def async_lock() -> asyncio.Lock:
    return asyncio.Lock()


def sync_lock() -> threading.Lock:
    return threading.Lock()
