"""The one error tree of agentsession.

Every error the library raises on purpose derives from :class:`AgentSessionError`::

    AgentSessionError
    ├── SessionNotFound          unknown, expired or deleted session
    │   └── AccessDenied         exists, but not for this caller (same message: no oracle)
    ├── CheckpointNotFound       unknown checkpoint id for this session
    ├── ConflictError            taken id, or a compare-and-swap that lost
    ├── LimitExceeded            max_messages or entry size reached
    ├── IntegrityError           stored history does not match its digests/checksum
    │   └── DecryptionError      a sealed record does not open: wrong key, or altered or moved
    │       └── MissingKey       the record's key id is not in the key ring
    ├── InvalidInput             malformed id, non-JSON data, unknown entry id, ...
    │   └── ConfigError          a configuration file's unknown key or bad value
    ├── StoreClosed              the store (or session object) was closed
    ├── StoreUnavailable         the back end cannot be reached (driver error chained)
    └── NoSessionInContext       current_session() outside use_session()

Driver errors are translated with :func:`map_exceptions` and chained with
``raise ... from exc`` so callers catch one base class and still see the cause.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from types import TracebackType

__all__ = [
    "AccessDenied",
    "AgentSessionError",
    "BlockingCallInEventLoop",
    "CheckpointNotFound",
    "ConfigError",
    "ConflictError",
    "DecryptionError",
    "IntegrityError",
    "InvalidInput",
    "LimitExceeded",
    "MissingKey",
    "NoSessionInContext",
    "SearchUnavailable",
    "SessionNotFound",
    "StoreClosed",
    "StoreUnavailable",
    "blocking_call",
    "map_exceptions",
]


class AgentSessionError(Exception):
    """Base class of every error agentsession raises on purpose."""


class SessionNotFound(AgentSessionError):
    """The session does not exist, has expired or was deleted."""

    def __init__(self, message: str = "session not found") -> None:
        super().__init__(message)


class AccessDenied(SessionNotFound):
    """The session exists but belongs to someone else.

    It is a :class:`SessionNotFound` with the same message, so code that reports
    "not found" cannot be used to probe which ids exist.
    """


class CheckpointNotFound(AgentSessionError):
    """No checkpoint with that id in this session."""


class ConflictError(AgentSessionError):
    """A session id is taken, or a compare-and-swap (``expected_head``) lost."""


class LimitExceeded(AgentSessionError):
    """A configured limit (``max_messages``, entry size) would be exceeded."""


class IntegrityError(AgentSessionError):
    """Stored history does not match its recorded digests or checksum."""


class DecryptionError(IntegrityError):
    """A sealed record could not be opened: the key named ``key_id`` is the
    wrong one, or the record was altered or moved to another place. Nothing
    is changed, skipped or deleted because of it (``docs/design.md``,
    "Encryption and compression")."""

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class MissingKey(DecryptionError):
    """A sealed record names a key id the key ring does not hold."""


class InvalidInput(AgentSessionError, ValueError):
    """Malformed ids, data that is not canonical JSON, unknown entry ids."""


class ConfigError(InvalidInput):
    """A configuration file holds an unknown key or a bad value.

    ``key`` is the dotted key (``None`` for the file as a whole) and ``path``
    the file; both are in the message.
    """

    def __init__(self, message: str, *, key: str | None = None, path: str | None = None):
        super().__init__(message)
        self.key = key
        self.path = path


class SearchUnavailable(AgentSessionError):
    """This store cannot search (an encrypted store: see ``docs/design.md``, "Search")."""


class StoreClosed(AgentSessionError):
    """The store, manager or session object has been closed."""


class StoreUnavailable(AgentSessionError):
    """The back end could not be reached; the driver's error is ``__cause__``.

    ``hint``, when set, is what to do about it in our own words (never a
    driver message, which may carry a DSN): the web layer logs it.
    """

    def __init__(self, message: str = "the store is unavailable", *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class NoSessionInContext(AgentSessionError, LookupError):
    """``current_session()`` was called outside ``use_session()``."""


def map_exceptions(
    mapping: Mapping[type[BaseException], type[AgentSessionError]],
    *,
    where: Callable[[], str | None] | None = None,
) -> ErrorMap:
    """Translate driver exceptions into the agentsession tree.

    Errors already in the tree pass through untouched; the first matching key of
    ``mapping`` (in order) decides the class, and the original is chained.
    ``where`` names the back end (host and port, never credentials) as the
    ``hint`` of a ``StoreUnavailable``. A context manager, also usable as a
    decorator.
    """
    return ErrorMap(mapping, where)


class ErrorMap(contextlib.ContextDecorator, contextlib.AbstractContextManager[None]):
    """What :func:`map_exceptions` returns. A class, not a generator: every
    store call enters one, and a generator-based context manager costs about
    twice as much."""

    __slots__ = ("_mapping", "_where")

    def __init__(
        self,
        mapping: Mapping[type[BaseException], type[AgentSessionError]],
        where: Callable[[], str | None] | None,
    ) -> None:
        self._mapping = mapping
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(error, Exception) or isinstance(error, AgentSessionError):
            return  # none, a BaseException, or one of ours: it goes on as it is
        for source, target in self._mapping.items():
            if isinstance(error, source):
                translated = target(f"{type(error).__name__}: {error}")
                if isinstance(translated, StoreUnavailable) and self._where is not None:
                    translated.hint = self._where()
                raise translated from error


class BlockingCallInEventLoop(RuntimeWarning):
    """A sync manager or session was called in a thread that runs an event loop.

    Each such call blocks the loop (every other task waits for the store). Use
    :class:`~agentsession.AsyncSessionManager` in async code, or run the sync
    code in a worker thread (``asyncio.to_thread``). Issued once per manager.
    """


def blocking_call(manager: str) -> str:
    """The message of :class:`BlockingCallInEventLoop` for a manager class name."""
    return (
        f"{manager} called on a thread that runs an event loop: each call blocks "
        "the loop. Use AsyncSessionManager in async code, or run this code in a "
        "worker thread (asyncio.to_thread)."
    )
