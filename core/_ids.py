"""Ids: validation before any store is touched, and generation from ``secrets``."""

from __future__ import annotations

import re
import secrets

from ._exceptions import InvalidInput

__all__ = [
    "MAX_USER_ID_LENGTH",
    "new_id",
    "validate_id",
    "validate_text",
    "validate_user_id",
]

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_USER_ID_LENGTH = 256


def validate_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid session/entry/checkpoint id or agent name.

    Valid means ``[A-Za-z0-9_-]{1,128}``: safe as a file name, a key part and a
    URL-free token. The offending value is never echoed (it may be a secret).
    """
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidInput(f"invalid {what}: must match [A-Za-z0-9_-]{{1,128}}")
    return value


def validate_user_id(value: object) -> str:
    """Return ``value`` if it is an acceptable opaque user id (1-256 chars, no NUL)."""
    return validate_text(value, "user_id", MAX_USER_ID_LENGTH, minimum=1)


def validate_text(value: object, what: str, maximum: int, *, minimum: int = 0) -> str:
    """Return ``value`` if it is a string every store can hold: ``minimum`` to
    ``maximum`` characters, no NUL (PostgreSQL refuses it) and valid UTF-8 (no
    lone surrogate). The value is never echoed."""
    if (
        not isinstance(value, str)
        or not minimum <= len(value) <= maximum
        or "\x00" in value
        or not _utf8(value)
    ):
        raise InvalidInput(
            f"invalid {what}: must be a string of {minimum}-{maximum} chars,"
            " valid UTF-8 without NUL"
        )
    return value


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def new_id() -> str:
    """A fresh id with 128 random bits (22 url-safe characters)."""
    return secrets.token_urlsafe(16)
