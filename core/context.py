"""The current session, for integrations: what ``current_session()`` reads.

Apps use :func:`agentsession.use_session` and :func:`agentsession.current_session`;
a framework integration may also need to look without raising
(:func:`peek_session`) or to set the session for the rest of a context it
knows is a throwaway copy (:func:`set_session`).
"""

from __future__ import annotations

from ._context import AnySession, current_session, peek_session, set_session, use_session

__all__ = ["AnySession", "current_session", "peek_session", "set_session", "use_session"]
