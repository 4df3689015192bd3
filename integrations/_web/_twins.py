"""What the async and sync handles spell differently, under twin names.

The async source uses ``async_lock()``; ``scripts/unasync.py`` turns it into
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
