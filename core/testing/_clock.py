"""A clock tests can move by hand: expiry is tested without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]


class FakeClock:
    """Callable returning an aware UTC time that only moves when told to.

    Every call returns a time 1 microsecond after the previous one (unless
    ``tick=False``), so ``updated_at`` orderings stay strict without real
    time passing.
    """

    def __init__(self, start: datetime | None = None, *, tick: bool = True) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._tick = timedelta(microseconds=1 if tick else 0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += self._tick
            return self._now

    def advance(self, delta: timedelta | float) -> None:
        """Move forward by a timedelta or a number of seconds."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step
