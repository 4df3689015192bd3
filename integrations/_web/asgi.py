"""ASGI messages for the session layer: the response start with the session's
headers merged in, and an error sent as a JSON response or a websocket close.

Framework-neutral (plain ASGI dicts): the ASGI middleware and the Starlette
exception handlers both send errors through :func:`send_error`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from .errors import ErrorResponse
from .resolution import RequestState, caching_headers

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
    session headers ``state`` asks for: :meth:`RequestState.response_headers`
    on raw headers, names lowercased.

    Only ``Vary`` and ``Cache-Control`` are decoded (to be merged), and their
    merge with the session's is worked out once per distinct value.
    """
    # A websocket accept is never cached: only the id and the cookie matter.
    merging = not websocket and state.varies
    headers: list[tuple[bytes, bytes]] = []
    vary: list[bytes] = []
    cache: list[bytes] = []
    for name, value in raw:
        name = name.lower()
        if merging and name == b"vary":
            vary.append(value)
        elif merging and name == b"cache-control":
            cache.append(value)
        else:
            headers.append((name, value))
    if merging:
        headers += _raw_caching_headers(b", ".join(vary), b", ".join(cache), state.settings.header)
    identity = state.identity_headers()
    if identity:
        headers += _encoded(identity)
    return headers


@functools.lru_cache(maxsize=256)
def _raw_caching_headers(
    vary: bytes, cache_control: bytes, header: str
) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        _encoded(caching_headers(vary.decode("latin-1"), cache_control.decode("latin-1"), header))
    )


def _encoded(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


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
        {"type": "http.response.start", "status": error.status, "headers": _encoded(headers)}
    )
    await send({"type": "http.response.body", "body": error.body})
