"""The ``prune`` command's options, the same for ``manage.py agentsession_prune``
and ``flask agentsession prune``: parsed here, passed to ``manager.prune``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agentsession import InvalidInput

__all__ = ["PRUNE_HELP", "parse_duration", "prune", "summary"]

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

#: option -> help text, for both frameworks' commands.
PRUNE_HELP = {
    "batch": "sessions erased or listed per store call (default: 500)",
    "older_than": "also erase sessions not written for this long (90d, 12h, 30m, 45s)",
    "keep_newest": "also erase all but the newest N sessions of each --per group",
    "per": "the group --keep-newest counts in: user (default), agent or user_agent",
    "agent": "apply --older-than / --keep-newest to this agent's sessions only",
    "dry_run": "erase nothing; count what the policies would erase",
}


def parse_duration(text: str) -> timedelta:
    """``"90d"``, ``"12h"``, ``"30m"``, ``"45s"`` (or a bare number of seconds)."""
    value = str(text).strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise InvalidInput(f"not a duration: {text!r} (say 90d, 12h, 30m or 45s)") from None
    if not 0 < seconds < float("inf"):
        raise InvalidInput(f"a duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


def prune(manager: Any, **options: Any) -> str:
    """Run ``manager.prune`` with the command's options; the line to print."""
    older_than = options.get("older_than")
    dry_run = bool(options.get("dry_run"))
    count: int = manager.prune(
        batch=500 if options.get("batch") is None else options["batch"],
        older_than=parse_duration(older_than) if older_than else None,
        keep_newest=options.get("keep_newest"),
        per=options.get("per") or "user",
        agent=options.get("agent"),
        dry_run=dry_run,
    )
    return summary(count, dry_run=dry_run)


def summary(count: int, *, dry_run: bool) -> str:
    """What the commands print."""
    return f"would prune {count} session(s)" if dry_run else f"pruned {count} session(s)"
