"""Errors that escape a view, as HTTP statuses with JSON bodies (``docs/design.md``, "Web layer").

=====================================  ======  ==========================
error                                  status  ``{"error": ...}``
=====================================  ======  ==========================
malformed session id in the header      400    ``invalid_session_id``
``SessionNotFound`` / ``AccessDenied``  404    ``session_not_found``
``CheckpointNotFound``                  404    ``checkpoint_not_found``
``ConflictError``                       409    ``conflict``
``LimitExceeded``                       422    ``limit_exceeded``
``InvalidInput`` (bad message data)     422    ``invalid_input``
``StoreUnavailable`` / ``StoreClosed``  503    ``store_unavailable``
``IntegrityError``                      500    ``integrity_error`` (+ a log line)
=====================================  ======  ==========================

Bodies never carry a session id, and the 404 for an unknown id is byte for
byte the 404 for somebody else's session. Log lines name the error class only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from agentsession import (
    AgentSessionError,
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
)

__all__ = ["HANDLED", "ErrorResponse", "error_response", "logger"]

logger = logging.getLogger("agentsession.integrations")

# (class, status, code, fixed message or None to use the error's own message).
# Order matters: the first matching class wins.
_TABLE: tuple[tuple[type[AgentSessionError], int, str, str | None], ...] = (
    (SessionNotFound, 404, "session_not_found", "session not found"),
    (CheckpointNotFound, 404, "checkpoint_not_found", "checkpoint not found"),
    (ConflictError, 409, "conflict", None),
    (LimitExceeded, 422, "limit_exceeded", None),
    (InvalidInput, 422, "invalid_input", None),
    (StoreUnavailable, 503, "store_unavailable", "session store unavailable"),
    (StoreClosed, 503, "store_unavailable", "session store unavailable"),
    (IntegrityError, 500, "integrity_error", "stored history failed its integrity check"),
)

#: The exception classes :func:`error_response` turns into a response.
HANDLED: tuple[type[AgentSessionError], ...] = tuple(row[0] for row in _TABLE)


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A JSON error response: ``status``, ``body`` (bytes) and its ``headers``."""

    status: int
    code: str
    message: str

    @property
    def body(self) -> bytes:
        return json.dumps({"error": self.code, "message": self.message}).encode()

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self.body))),
        ]

    @property
    def websocket_close_code(self) -> int:
        """Close code for a websocket: 4000 + the HTTP status (4404, 4503, ...)."""
        return 4000 + self.status


def error_response(exc: BaseException, *, bad_id: bool = False) -> ErrorResponse:
    """The response for ``exc``, an instance of one of :data:`HANDLED`.

    Args:
        bad_id: ``exc`` is the ``InvalidInput`` of a malformed session id in the
            request (400, not the 422 of bad message data).
    """
    if bad_id:
        return ErrorResponse(400, "invalid_session_id", "malformed session id")
    for cls, status, code, message in _TABLE:
        if isinstance(exc, cls):
            if status >= 500:
                # Class names only: driver messages may carry paths or DSNs,
                # and nothing here may carry a session id.
                cause = type(exc.__cause__).__name__ if exc.__cause__ else "-"
                log = logger.error if status == 500 else logger.warning
                hint = getattr(exc, "hint", None)
                log(
                    "agentsession: %s (cause: %s) -> %d%s",
                    type(exc).__name__,
                    cause,
                    status,
                    f": {hint}" if hint else "",
                )
            return ErrorResponse(status, code, message or str(exc))
    raise TypeError(f"no response for {type(exc).__name__}") from exc
