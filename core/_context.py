"""The current session, carried by a contextvar.

It follows ``await`` and is copied into threads started with
``contextvars.copy_context().run``; it is never shared between requests.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeAlias

from ._exceptions import NoSessionInContext

if TYPE_CHECKING:
    from ._async.session import AsyncSession
    from ._sync.session import Session

__all__ = ["AnySession", "current_session", "peek_session", "set_session", "use_session"]

AnySession: TypeAlias = "Session | AsyncSession"

_current: contextvars.ContextVar[AnySession] = contextvars.ContextVar("agentsession_current")


@contextlib.contextmanager
def use_session(session: AnySession) -> Iterator[AnySession]:
    """Make ``session`` what :func:`current_session` returns inside the block."""
    token = _current.set(session)
    try:
        yield session
    finally:
        _current.reset(token)


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
