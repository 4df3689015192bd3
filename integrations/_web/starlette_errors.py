"""Starlette exception handlers for the web layer's errors.

Below both :mod:`agentsession.integrations.asgi` (which installs them on a
Starlette app it wraps from outside) and
:mod:`agentsession.integrations.starlette` (which re-exports them), so
neither imports the other. Imported only where Starlette is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from .asgi import Receive, Scope, Send, send_error
from .errors import HANDLED, ErrorResponse, error_response

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection
    from starlette.types import ExceptionHandler

__all__ = ["exception_handlers", "install_exception_handlers"]


class _JSONError(Response):
    """The error as :func:`send_error` sends it (a websocket gets a close)."""

    def __init__(self, error: ErrorResponse) -> None:
        super().__init__(error.body, error.status, media_type="application/json")
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_error(send, self.error, scope["type"] == "websocket")


async def _handle(conn: HTTPConnection, exc: Exception) -> Response:
    return _JSONError(error_response(exc))


def exception_handlers() -> dict[Any, ExceptionHandler]:
    """Starlette exception handlers for the web layer's errors (404, 409, 422,
    503, 500 for ``IntegrityError``), for ``Starlette(exception_handlers=...)``.

    The middleware installs them itself when it wraps a Starlette app from
    outside; pass them when it cannot see the app (another wrapper between).
    """
    return dict.fromkeys(HANDLED, _handle)


def install_exception_handlers(app: Starlette) -> None:
    """Add :func:`exception_handlers` to ``app``, leaving alone every error
    class one of the app's own handlers (for it or a base class) covers."""
    own = {key for key in app.exception_handlers if key not in (Exception, BaseException)}
    for cls, handler in exception_handlers().items():
        if own.isdisjoint(cls.__mro__):
            app.add_exception_handler(cls, handler)
