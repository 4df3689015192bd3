"""ASGI messages for the session layer: the response start with the session's
headers merged in, and an error sent as a JSON response or a websocket close.

Framework-neutral (plain ASGI dicts): the ASGI middleware and the Starlette
exception handlers both send errors through :func:`send_error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .errors import ErrorResponse
from .resolution import RequestState

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "send_error", "with_session_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_session_headers(
    state: RequestState, raw: Sequence[tuple[bytes, bytes]], websocket: bool
) -> list[tuple[bytes, bytes]]:
    """The raw headers of a response start (or websocket accept) plus the
    session headers ``state`` asks for."""
    existing = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    # A websocket accept is never cached: only the id and the cookie matter.
    merged = state.response_headers(existing, caching=not websocket)
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in merged]


async def send_error(
    send: Send,
    error: ErrorResponse,
    websocket: bool,
    session_headers: Sequence[tuple[str, str]] = (),
) -> None:
    """Send ``error``: a JSON response, or on a websocket a close with
    :attr:`ErrorResponse.websocket_close_code`."""
    if websocket:
        await send({"type": "websocket.close", "code": error.websocket_close_code})
        return
    headers = [*error.headers, *session_headers]
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": error.body})
