"""SQLite durability as each system's live connection reports it, not as assumed.

A peer that opens its own connections may override, reset or ignore a pragma
the benchmark asked for, so every SQLite column's label is built from
``PRAGMA journal_mode`` / ``PRAGMA synchronous`` read back after setup. A value
other than the intended one is printed loudly and written into the label: a
comparison "at the same synchronous level" is only claimed when it was so.
"""

from __future__ import annotations

from typing import Any

from .adapters.base import Adapter

__all__ = ["apply_read_back", "describe", "mismatches", "read_sqlite", "sqlite_intended"]

# PRAGMA synchronous answers with a number.
_LEVELS = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}


def sqlite_intended(synchronous: str) -> dict[str, str]:
    """The settings every SQLite column is meant to run with."""
    return {"journal_mode": "wal", "synchronous": synchronous.upper()}


def read_sqlite(conn: Any) -> dict[str, str]:
    """The journal mode and ``synchronous`` level of one open ``sqlite3`` connection."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    level = conn.execute("PRAGMA synchronous").fetchone()[0]
    return {"journal_mode": str(mode).lower(), "synchronous": _LEVELS.get(str(level), str(level))}


def describe(settings: dict[str, str]) -> str:
    mode = settings.get("journal_mode", "?")
    head = "WAL" if mode == "wal" else f"journal_mode={mode.upper()}"
    return f"{head}, synchronous={settings.get('synchronous', '?')}"


def mismatches(read: dict[str, str], intended: dict[str, str]) -> list[str]:
    return [
        f"{key}={read.get(key, '?')} (intended {value})"
        for key, value in intended.items()
        if read.get(key) != value
    ]


def apply_read_back(adapter: Adapter, read: dict[str, str] | None) -> list[str]:
    """Label ``adapter`` with the settings ``read`` from its connection.

    Returns the differences from the intended settings (empty when none, or
    when the system has nothing to read back: a server's own setting is
    already read from the server)."""
    if not read:
        return []
    adapter.settings = read
    bad = mismatches(read, adapter.intended or {})
    label = f"{describe(read)}{adapter.durability_note} (read back)"
    if bad:
        label += " — **NOT THE INTENDED LEVEL: " + "; ".join(bad) + "**"
    adapter.durability = label
    return bad
