"""Audit events: one per mutating call, and one per refused owner check.

A manager made with ``audit=`` (``True`` for the ``agentsession.audit``
logger, or any callable taking an :class:`AuditEvent`) reports every call
that writes, whatever its outcome, and every call refused because the caller
is not the session's owner (and, at the same cost, every read of a session
that does not exist). Events carry ids, the owner, the agent, the time,
the outcome and counts: never message content, state or metadata values.
Calls made inside an audited call (a turn's append, an auto-checkpoint)
report nothing of their own, so one call is one event. The web integrations
add the request's method, path and remote address (:func:`request_scope`).
Shared by both twins; see ``docs/design.md``, "Audit".
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from ._exceptions import InvalidInput, SessionNotFound

__all__ = [
    "AuditEvent",
    "AuditSink",
    "Auditor",
    "audited",
    "make_auditor",
    "of_create",
    "of_prune",
    "of_request",
    "of_session",
    "of_session_result",
    "request_scope",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The logger ``audit=True`` writes to, one INFO record per event.
LOGGER = logging.getLogger("agentsession.audit")

# Set while an audited call runs: calls it makes report nothing themselves.
_INSIDE: ContextVar[bool] = ContextVar("agentsession_audit_inside", default=False)
# The web request being served, if any (method, path, remote address).
_REQUEST: ContextVar[Mapping[str, str] | None] = ContextVar(
    "agentsession_audit_request", default=None
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited call.

    Attributes:
        action: the call (``"append"``, ``"checkpoint"``, ``"delete"``,
            ``"turn"``, ``"get"`` for a refused read...).
        outcome: ``"ok"``, or the class name of the error it raised
            (``"AccessDenied"`` for a refused owner check).
        at: when (the manager's clock).
        session_id: the session, clear or as its SHA-256 (``audit_ids``);
            ``None`` for calls on no one session (``prune``).
        user_id: the session's owner; for a refusal, the caller's user id.
        agent: the session's agent, when known.
        detail: counts and ids (``entries``, ``checkpoint_id``, ``erased``...)
            and, under a web integration, ``method``, ``path``, ``remote``.
    """

    action: str
    outcome: str
    at: datetime
    session_id: str | None
    user_id: str | None
    agent: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)


AuditSink = Callable[[AuditEvent], None]


def log_event(event: AuditEvent) -> None:
    """The ``audit=True`` sink: one record on :data:`LOGGER` (``extra["audit"]``)."""
    LOGGER.info(
        "%s %s session=%s user=%s",
        event.action,
        event.outcome,
        event.session_id,
        event.user_id,
        extra={"audit": {**asdict(event), "at": event.at.isoformat()}},
    )


class Auditor:
    """A manager's audit settings: where events go and how ids appear."""

    def __init__(self, sink: AuditSink, *, hashed: bool, clock: Callable[[], datetime]) -> None:
        self.sink = sink
        self.hashed = hashed
        self._clock = clock

    def emit(
        self,
        action: str,
        outcome: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        agent: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        if session_id is not None and self.hashed:
            session_id = hashlib.sha256(session_id.encode()).hexdigest()
        extra = dict(detail or {})
        request = _REQUEST.get()
        if request is not None:
            extra.update(request)
        self.sink(AuditEvent(action, outcome, self._clock(), session_id, user_id, agent, extra))


def make_auditor(
    audit: AuditSink | bool, ids: Literal["clear", "hashed"], clock: Callable[[], datetime]
) -> Auditor | None:
    """The manager option ``audit`` (with ``audit_ids``) as an :class:`Auditor`."""
    if ids not in ("clear", "hashed"):
        raise InvalidInput('audit_ids must be "clear" or "hashed"')
    if audit is False:
        return None
    if audit is True:
        return Auditor(log_event, hashed=ids == "hashed", clock=clock)
    if not callable(audit):
        raise InvalidInput("audit must be True, False or a callable taking an AuditEvent")
    return Auditor(audit, hashed=ids == "hashed", clock=clock)


@contextmanager
def request_scope(method: str, path: str, remote: str | None) -> Iterator[None]:
    """Within it, audit events carry this web request's method, path and remote."""
    token = _REQUEST.set({"method": method, "path": path, "remote": remote or ""})
    try:
        yield
    finally:
        _REQUEST.reset(token)


#: What an audited call touched, from ``(self, args, kwargs, result)``
#: (``result`` is ``None`` when the call raised): session id, user id,
#: agent, detail.
Describe = Callable[
    [Any, tuple[Any, ...], dict[str, Any], Any],
    tuple[str | None, str | None, str | None, Mapping[str, Any]],
]


class _Call:
    """One audited call in progress: nested calls report nothing meanwhile;
    on the way out, the call is reported with its result or error."""

    def __init__(
        self,
        report: Callable[[_Call, BaseException | None], None],
        owner: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.report, self.owner, self.args, self.kwargs = report, owner, args, kwargs
        self.result: Any = None

    def __enter__(self) -> _Call:
        self._token = _INSIDE.set(True)
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        _INSIDE.reset(self._token)
        self.report(self, error)


def audited(action: str, describe: Describe, *, refusals_only: bool = False) -> Callable[[F], F]:
    """Report each call of the decorated method (sync or async) as one event.

    The method's object has an ``_auditor`` (``None``: nothing is reported,
    at the cost of one attribute read). ``refusals_only``: report only a
    refusal: :class:`AccessDenied` (the session is someone else's) and,
    so that refusing costs the same whether the session exists,
    ``SessionNotFound`` too.
    """

    def decorate(fn: F) -> F:
        def report(call: _Call, error: BaseException | None) -> None:
            if refusals_only and not isinstance(error, SessionNotFound):
                return
            if error is not None and not isinstance(error, Exception):
                return  # cancelled or interrupted: not an outcome of the call
            session_id, user_id, agent, detail = describe(
                call.owner, call.args, call.kwargs, call.result
            )
            call.owner._auditor.emit(
                action,
                "ok" if error is None else type(error).__name__,
                session_id=session_id,
                user_id=user_id,
                agent=agent,
                detail=detail,
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                if self._auditor is None or _INSIDE.get():
                    return await fn(self, *args, **kwargs)
                with _Call(report, self, args, kwargs) as call:
                    call.result = await fn(self, *args, **kwargs)
                return call.result

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            if self._auditor is None or _INSIDE.get():
                return fn(self, *args, **kwargs)
            with _Call(report, self, args, kwargs) as call:
                call.result = fn(self, *args, **kwargs)
            return call.result

        return cast(F, run)

    return decorate


def of_session(
    self: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """A session method's event: the session itself, and how many entries it
    wrote or which checkpoint it made or restored."""
    detail: dict[str, Any] = {}
    if isinstance(result, list):
        detail["entries"] = len(result)
    elif result is not None and hasattr(result, "digest"):
        detail["entries"] = 1
    elif result is not None and hasattr(result, "checksum"):
        detail["checkpoint_id"] = result.id
    elif result is not None and hasattr(result, "output"):
        detail["entries"] = len(result.input) + len(result.output)
    return self.id, self.user_id, self.agent, detail


def of_request(
    self: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """A manager call named by a session id: that id, and the caller's user id."""
    session_id = args[0] if args and isinstance(args[0], str) else kwargs.get("session_id")
    user_id = kwargs.get("user_id")
    detail = {"deleted": result} if isinstance(result, bool) else {}
    return session_id, user_id if isinstance(user_id, str) else None, None, detail


def of_session_result(
    self: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """A manager call that returns a session: that session (else what was asked)."""
    if result is not None:
        return result.id, result.user_id, result.agent, {}
    export: Any = args[0] if args else None
    if hasattr(export, "session"):  # import_session
        info = export.session
        return info.id, info.user_id, info.agent, {}
    return of_request(self, args, kwargs, result)


def of_prune(
    self: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """``prune``: no one session; how many were erased."""
    return None, None, None, {} if result is None else {"erased": result}


def of_create(
    self: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[str | None, str | None, str | None, Mapping[str, Any]]:
    """``create``: the new session (else the id, owner and agent asked for)."""
    if result is not None:
        return result.id, result.user_id, result.agent, {}
    agent = args[0] if args else kwargs.get("agent")
    return kwargs.get("session_id"), kwargs.get("user_id"), agent, {}
