"""Where an append's data is checked and encoded: on the event loop, or off it.

Validation and canonical encoding cost about one ``json.dumps``: nothing for a
chat message, but tens of milliseconds for a multi-megabyte body, during which
an event loop serves no one else. Async sessions hand data above
:data:`OFF_LOOP_WEIGHT` to a worker thread; sync sessions (already off any
loop) and small data do the work in place. ``scripts/unasync.py`` turns
``async_prepare`` into ``sync_prepare`` in the generated sync session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ._models import NewEntry
from ._rules import prepare_entry

__all__ = ["OFF_LOOP_WEIGHT", "async_prepare", "sync_prepare", "weight"]

#: A rough size (characters, plus 64 per container item) above which async
#: code validates and encodes in a worker thread: about 256 KB of JSON.
OFF_LOOP_WEIGHT = 256 * 1024


def weight(items: Sequence[Any]) -> int:
    """A cheap over-estimate-in-spirit of the JSON size of ``items``: string
    lengths and 64 per item of a container, one level deep (no walk)."""
    total = 0
    for item in items:
        values = item.values() if isinstance(item, Mapping) else (item,)
        for value in values:
            if isinstance(value, str):
                total += len(value)
            elif isinstance(value, list | dict | tuple):
                total += 64 * len(value)
            else:
                total += 8
    return total


def sync_prepare(
    kind: str, items: Sequence[Any], now: datetime, max_bytes: int | None
) -> list[NewEntry]:
    """Check and encode ``items`` here."""
    return [prepare_entry(kind, item, now, max_bytes) for item in items]


async def async_prepare(
    kind: str, items: Sequence[Any], now: datetime, max_bytes: int | None
) -> list[NewEntry]:
    """Check and encode ``items``, in a worker thread when they are large."""
    if weight(items) > OFF_LOOP_WEIGHT:
        return await asyncio.to_thread(sync_prepare, kind, items, now, max_bytes)
    return sync_prepare(kind, items, now, max_bytes)
