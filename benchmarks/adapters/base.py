"""The shape every system under test is driven through.

A method returns a value for a sync adapter and an awaitable for an async one
(``is_async``); the harness times the call, or the await, and nothing else.
"""

from __future__ import annotations

import secrets
from typing import Any

__all__ = ["Adapter", "Handle", "new_session_id"]

Handle = Any


def new_session_id() -> str:
    return "b" + secrets.token_hex(16)


class Adapter:
    """Base class; override what the system can do."""

    name = "?"
    group = "?"  # "memory", "sqlite", "file", "redis", "postgres"
    role = "peer"  # "ours", "peer", "floor"
    is_async = False
    durability = "?"
    has_checkpoints = False
    # In the 16-client throughput run? Off for a sync system whose async twin runs.
    in_throughput = True
    note = ""  # a remark shown under the table (how it reads "last 100", ...)
    # Peers: do concurrent appends to one session keep every message exactly
    # once (no lost or duplicated message)? None: not judged. The target
    # "append faster than every peer with the same atomicity" uses it.
    one_chain: bool | None = None
    # SQLite settings the system should run at (durability.sqlite_intended),
    # and those read back from its live connection after open.
    intended: dict[str, str] | None = None
    settings: dict[str, str] | None = None
    durability_note = ""  # appended to a read-back label (", its default")

    # -- lifecycle (plain calls, or coroutines when is_async) ------------------
    def open(self) -> Any:
        return None

    def close(self) -> Any:
        return None

    def read_settings(self) -> Any:
        """Settings read back from the live connection after ``open`` (a dict,
        or an awaitable of one); None when there is nothing to read here."""
        return None

    # -- sessions ---------------------------------------------------------------
    def new_empty(self) -> Any:
        """A session with no message (untimed)."""
        raise NotImplementedError

    def fill(self, handle: Handle, count: int) -> Any:
        """Add ``count`` messages the fastest way the system allows (untimed)."""
        raise NotImplementedError

    def analyze(self) -> Any:
        """Refresh the planner statistics of the tables ``fill`` wrote (untimed;
        called after every fill). PostgreSQL systems run ``ANALYZE``, as
        autovacuum would before long, so no system is timed on a plan made
        for an empty table; the others have nothing to do."""
        return None

    def release(self, handle: Handle) -> Any:
        """Drop a session object the harness no longer uses (untimed)."""
        return None

    # -- timed operations --------------------------------------------------------
    def create(self, msg: dict[str, Any]) -> Any:
        """Create a session and append its first message; returns the handle."""
        raise NotImplementedError

    def append(self, handle: Handle, msg: dict[str, Any]) -> Any:
        raise NotImplementedError

    def last100(self, handle: Handle) -> Any:
        raise NotImplementedError

    def read_all(self, handle: Handle) -> Any:
        raise NotImplementedError

    def checkpoint(self, handle: Handle) -> Any:
        raise NotImplementedError

    def restore(self, handle: Handle, point: Any) -> Any:
        raise NotImplementedError
