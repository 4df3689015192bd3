"""The ``prune`` commands' options, the same for ``agentsession prune``,
``manage.py agentsession_prune`` and ``flask agentsession prune``: parsed
here, passed to ``manager.prune`` (``docs/design.md``, "Retention")."""

from __future__ import annotations

from typing import Any

from .config import parse_duration

__all__ = ["PRUNE_HELP", "parse_duration", "prune", "prune_count", "summary"]

#: option -> help text, for every prune command.
PRUNE_HELP = {
    "batch": "sessions erased or listed per store call (default: 500)",
    "older_than": "also erase sessions not written for this long (90d, 12h, 30m, 45s)",
    "keep_newest": "also erase all but the newest N sessions of each --per group",
    "per": "the group --keep-newest counts in: user (default), agent or user_agent",
    "agent": "apply --older-than / --keep-newest to this agent's sessions only",
    "dry_run": "erase nothing; count what the policies would erase",
}


def prune(manager: Any, **options: Any) -> str:
    """Run ``manager.prune`` with the command's options; the line to print."""
    return summary(prune_count(manager, **options), dry_run=bool(options.get("dry_run")))


def prune_count(manager: Any, **options: Any) -> int:
    """Run ``manager.prune`` with the command's options; how many it erased
    (or, with ``dry_run``, would erase)."""
    older_than = options.get("older_than")
    count: int = manager.prune(
        batch=500 if options.get("batch") is None else options["batch"],
        older_than=parse_duration(older_than) if older_than else None,
        keep_newest=options.get("keep_newest"),
        per=options.get("per") or "user",
        agent=options.get("agent"),
        dry_run=bool(options.get("dry_run")),
    )
    return count


def summary(count: int, *, dry_run: bool) -> str:
    """What the commands print."""
    return f"would prune {count} session(s)" if dry_run else f"pruned {count} session(s)"
