"""The current session, carried by a contextvar.

It follows ``await`` and is copied into threads started with
``contextvars.copy_context().run``; it is never shared between requests.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, TypeAlias

from ._exceptions import NoSessionInContext

if TYPE_CHECKING:
    from ._async.session import AsyncSession
    from ._sync.session import Session

__all__ = ["AnySession", "current_session", "peek_session", "set_session", "use_session"]

AnySession: TypeAlias = "Session | AsyncSession"

_current: contextvars.ContextVar[AnySession] = contextvars.ContextVar("agentsession_current")


class use_session(contextlib.ContextDecorator):  # lowercase: used as a function
    """Make ``session`` what :func:`current_session` returns inside the block
    (or inside a function it decorates).

    A class, not a generator: the web integrations enter one on every request
    (``docs/design.md``, "Web layer"), and this costs a third as much.
    """

    def __init__(self, session: AnySession) -> None:
        self._session = session
        self._token: contextvars.Token[AnySession] | None = None

    def __enter__(self) -> AnySession:
        if self._token is not None:
            raise RuntimeError("a use_session() block is entered once: make one per block")
        self._token = _current.set(self._session)
        return self._session

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            _current.reset(token)

    def _recreate_cm(self) -> use_session:
        # As a decorator: a fresh block for every call.
        return type(self)(self._session)


def current_session() -> AnySession:
    """The session set by the innermost :func:`use_session`.

    Raises:
        NoSessionInContext: outside any ``use_session`` block.
    """
    try:
        return _current.get()
    except LookupError:
        raise NoSessionInContext("no agent session in this context") from None


def peek_session() -> AnySession | None:
    """The current session, or ``None`` outside any :func:`use_session` block."""
    return _current.get(None)


def set_session(session: AnySession) -> None:
    """Make ``session`` current for the rest of this context, with no block.

    For a context that is a copy thrown away afterwards (the one a worker
    thread runs a sync endpoint in); elsewhere use :func:`use_session`.
    """
    _current.set(session)
