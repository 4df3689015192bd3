"""Checks run before a lazy session is created, so a write that would fail
does not leave an empty session (and a cookie) behind. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agentsession._exceptions import ConflictError, InvalidInput
from agentsession._models import UNCHECKED, Unchecked
from agentsession._rules import prepare_entry

__all__ = ["EPOCH", "check_first_write"]

#: A fixed instant for records that only need to be well-formed.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_first_write(
    kind: str,
    items: list[Mapping[str, Any]],
    expected_head: str | Unchecked | None,
    max_bytes: int | None,
) -> None:
    """Raise what the append would raise on a session that does not exist yet."""
    if not isinstance(items, list):
        raise InvalidInput("messages must be an iterable of JSON objects")
    for item in items:
        prepare_entry(kind, item, EPOCH, max_bytes)
    if expected_head is not UNCHECKED and expected_head is not None:
        raise ConflictError("expected_head does not match: the session is empty")
