"""I/O-free rules shared by the manager, the session objects and the stores.

Everything that decides *what* happens -- preparing entries, placing them in
the tree, expiry, owner checks, verification of a path -- lives here once, so
the async source and its generated sync twin, and every store written in
Python, apply exactly the same rules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from ._canonical import (
    canonical_json,
    chain_steps,
    checksum_matches,
    entry_digest,
    recompute_digest,
)
from ._exceptions import (
    AccessDenied,
    CheckpointNotFound,
    ConflictError,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
)
from ._ids import new_id, validate_id, validate_text, validate_user_id
from ._models import MESSAGE, STATE, UNCHECKED, Branch, Entry, NewEntry, SessionInfo, Unchecked

__all__ = [
    "branches_of",
    "check_batch",
    "check_checkpoint_name",
    "check_expected_head",
    "check_max_messages",
    "check_owner",
    "check_revision",
    "check_user_filter",
    "expiry_after_write",
    "is_expired",
    "json_patch",
    "merge_state",
    "new_session_info",
    "place_entries",
    "prepare_entry",
    "retention_policy",
    "verify_path",
    "with_checksums",
]


_KINDS_SEEN = {MESSAGE, STATE}


def prepare_entry(
    kind: str, data: Mapping[str, Any], now: datetime, max_bytes: int | None
) -> NewEntry:
    """Validate one entry and compute its canonical JSON and digest."""
    if kind not in _KINDS_SEEN:
        validate_id(kind, "entry kind")
        if len(_KINDS_SEEN) < 1024:
            _KINDS_SEEN.add(kind)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"entry data must be a JSON object, not {type(data).__name__}")
    plain = dict(data)
    data_json = canonical_json(plain, max_bytes=max_bytes)
    return NewEntry(
        id=new_id(),
        kind=kind,
        data=plain,
        data_json=data_json,
        digest=entry_digest(kind, data_json),
        created_at=now,
    )


def place_entries(
    new: Sequence[NewEntry],
    *,
    parent_id: str | None,
    parent_depth: int,
    message_count: int,
    max_messages: int | None,
    parent_checksum: str | None = None,
) -> list[Entry]:
    """Chain ``new`` under ``parent_id``: parents, depths, message indexes and
    path checksums.

    ``parent_checksum``: the parent's path checksum (``Entry.checksum``). The
    new entries get theirs from it; under a parent whose checksum is not known
    (``None``), they get ``None``. Under no parent they start from nothing.

    Raises:
        LimitExceeded: the path would hold more than ``max_messages`` messages.
    """
    placed: list[Entry] = []
    sums: list[str | None]
    if parent_id is None or parent_checksum is not None:
        base = None if parent_id is None else parent_checksum
        sums = list(chain_steps([item.digest for item in new], base))
    else:
        sums = [None] * len(new)
    for item, checksum in zip(new, sums, strict=True):
        message_count += item.is_message
        parent_depth += 1
        placed.append(
            Entry(
                id=item.id,
                parent_id=parent_id,
                kind=item.kind,
                created_at=item.created_at,
                data=item.data,
                depth=parent_depth,
                message_index=message_count,
                digest=item.digest,
                checksum=checksum,
            )
        )
        parent_id = item.id
    if max_messages is not None and message_count > max_messages:
        raise LimitExceeded(f"the session is limited to {max_messages} messages")
    return placed


def with_checksums(entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` (a whole session's, as an import brings them) with the
    path checksum of each computed from its parent's, in the same order.
    Whatever checksums they carried are not trusted."""
    ordered = sorted(entries, key=lambda e: e.depth)
    sums: dict[str, str] = {}
    for entry in ordered:
        base = None if entry.parent_id is None else sums[entry.parent_id]
        [sums[entry.id]] = chain_steps([entry.digest], base)
    return [replace(e, checksum=sums[e.id]) for e in entries]


def check_expected_head(current: str | None, expected: str | Unchecked | None) -> None:
    """Compare-and-swap check for writes that take ``expected_head``."""
    if expected is not UNCHECKED and expected != current:
        raise ConflictError("the session's head moved (expected_head does not match)")


class RetentionPolicy:
    """Which listed sessions a ``prune`` erases besides the expired ones."""

    def __init__(self, older_than: timedelta | None, keep_newest: int | None, per: str) -> None:
        self.older_than = older_than
        self.keep_newest = keep_newest
        self.per = per

    def doomed(self, info: SessionInfo, now: datetime, kept: dict[object, int]) -> bool:
        """Whether ``info`` goes; sessions come newest first, and ``kept``
        counts, per group, those already kept."""
        if self.older_than is not None and info.updated_at < now - self.older_than:
            return True
        if self.keep_newest is None:
            return False
        if self.per == "agent":
            group: object = info.agent
        elif info.user_id is None:
            group = ("anonymous", info.id)  # every anonymous session stands alone
        else:
            group = info.user_id if self.per == "user" else (info.user_id, info.agent)
        if kept.get(group, 0) >= self.keep_newest:
            return True
        kept[group] = kept.get(group, 0) + 1
        return False


def retention_policy(
    older_than: timedelta | None, keep_newest: int | None, per: str, batch: int
) -> RetentionPolicy | None:
    """The checked ``prune`` options; ``None`` when no policy is asked for."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidInput("batch must be a positive integer")
    if older_than is not None and (
        not isinstance(older_than, timedelta) or older_than <= timedelta(0)
    ):
        raise InvalidInput("older_than must be a positive timedelta")
    if keep_newest is not None and (
        isinstance(keep_newest, bool) or not isinstance(keep_newest, int) or keep_newest < 1
    ):
        raise InvalidInput("keep_newest must be a positive integer")
    if per not in ("user", "agent", "user_agent"):
        raise InvalidInput('per must be "user", "agent" or "user_agent"')
    if older_than is None and keep_newest is None:
        return None
    return RetentionPolicy(older_than, keep_newest, per)


def check_revision(current: int, expected: int | None) -> None:
    """Compare-and-swap check for calls that take ``expected_revision``."""
    if expected is not None and expected != current:
        raise ConflictError("the session changed since it was read")


def expiry_after_write(
    now: datetime, idle_timeout: float | None, deadline: datetime | None
) -> datetime | None:
    """``expires_at`` after a write: idle timeout renewed, capped by the ttl deadline."""
    if idle_timeout is None:
        return deadline
    renewed = now + timedelta(seconds=idle_timeout)
    return renewed if deadline is None else min(renewed, deadline)


def is_expired(info: SessionInfo, now: datetime) -> bool:
    """Whether the session has expired at ``now`` (``expires_at <= now``)."""
    return info.expires_at is not None and info.expires_at <= now


def new_session_info(
    *,
    session_id: str | None,
    agent: str,
    user_id: str | None,
    metadata: Mapping[str, Any] | None,
    now: datetime,
    ttl: timedelta | None,
    idle_timeout: timedelta | None,
    max_messages: int | None,
    max_metadata_bytes: int | None = None,
) -> SessionInfo:
    """Validate the arguments of ``create`` and build the new row."""
    validate_id(agent, "agent name")
    sid = new_id() if session_id is None else validate_id(session_id, "session id")
    if user_id is not None:
        validate_user_id(user_id)
    meta = _json_object(metadata, "metadata", max_metadata_bytes)
    for name, span in (("ttl", ttl), ("idle_timeout", idle_timeout)):
        if span is not None and (not isinstance(span, timedelta) or span <= timedelta(0)):
            raise InvalidInput(f"{name} must be a positive timedelta")
    check_max_messages(max_messages)
    deadline = None if ttl is None else now + ttl
    idle = None if idle_timeout is None else idle_timeout.total_seconds()
    return SessionInfo(
        id=sid,
        agent=agent,
        user_id=user_id,
        created_at=now,
        updated_at=now,
        metadata=meta,
        head=None,
        message_count=0,
        revision=0,
        expires_at=expiry_after_write(now, idle, deadline),
        deadline=deadline,
        idle_timeout=idle,
        max_messages=max_messages,
        last_checkpoint_at=None,
    )


def check_max_messages(value: int | None) -> int | None:
    """``max_messages`` is ``None`` (no limit) or a positive integer."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidInput("max_messages must be a positive integer or None")
    return value


#: Longest checkpoint name, in characters.
MAX_CHECKPOINT_NAME = 256


def check_checkpoint_name(name: str | None) -> str | None:
    """A checkpoint name is ``None`` or text every store can hold (no NUL,
    no lone surrogate, at most :data:`MAX_CHECKPOINT_NAME` characters)."""
    if name is None:
        return None
    return validate_text(name, "checkpoint name", MAX_CHECKPOINT_NAME)


def _json_object(
    value: Mapping[str, Any] | None, what: str, max_bytes: int | None = None
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object, not {type(value).__name__}")
    result = dict(value)
    canonical_json(result, max_bytes=max_bytes, what=what)
    return result


def json_patch(value: Mapping[str, Any], what: str, max_bytes: int | None = None) -> dict[str, Any]:
    """Validate a metadata/state patch (a JSON object), within ``max_bytes``."""
    return _json_object(value, what, max_bytes)


def check_batch(count: int, limit: int | None) -> None:
    """Refuse a write of more than ``limit`` entries (``LimitExceeded``)."""
    if limit is not None and count > limit:
        raise LimitExceeded(f"{count} entries in one write; the limit is {limit}")


def check_user_filter(user_id: str | Unchecked | None) -> None:
    """Validate a ``user_id`` argument of ``get``/``list`` before any I/O."""
    if user_id is not UNCHECKED and user_id is not None:
        validate_user_id(user_id)


def check_owner(info: SessionInfo, user_id: str | Unchecked | None) -> None:
    """The owner rule of ``get``: UNCHECKED trusts, None means anonymous."""
    if user_id is UNCHECKED:
        return
    if info.user_id != user_id:
        raise AccessDenied()


def merge_state(entries: Iterable[Entry]) -> dict[str, Any]:
    """State = the shallow merge of the ``"state"`` entries of a path, in order."""
    state: dict[str, Any] = {}
    for entry in entries:
        if entry.kind == STATE:
            state.update(entry.data)
    return state


def verify_path(path: Sequence[Entry], entry_id: str | None, expected: str) -> None:
    """Recompute every digest of ``path`` and its checksum.

    Raises:
        IntegrityError: a digest or the checksum does not match, or the path
            does not end at ``entry_id``.
    """
    last = path[-1].id if path else None
    if last != entry_id:
        raise IntegrityError("stored path does not end at the checkpointed entry")
    previous: str | None = None
    for entry in path:
        if entry.parent_id != previous:
            raise IntegrityError(f"entry {entry.id} is not linked to its parent")
        if recompute_digest(entry.kind, entry.data) != entry.digest:
            raise IntegrityError(f"entry {entry.id} does not match its digest")
        previous = entry.id
    if not checksum_matches([e.digest for e in path], expected):
        raise IntegrityError("path checksum does not match the checkpoint")


def branches_of(leaves: Iterable[Entry], head: str | None) -> list[Branch]:
    """One :class:`Branch` per leaf, newest first."""
    result = [
        Branch(
            leaf_id=leaf.id,
            message_count=leaf.message_index,
            updated_at=leaf.created_at,
            is_current=leaf.id == head,
        )
        for leaf in leaves
    ]
    result.sort(key=lambda b: (b.updated_at, b.leaf_id), reverse=True)
    return result


def is_async_store(store: object) -> bool:
    """Whether ``store``'s calls are coroutine functions (an async store)."""
    return inspect.iscoroutinefunction(getattr(store, "get_session", None))


def check_store_kind(store: object, manager: object) -> None:
    """Refuse a sync store under an async manager, or the reverse.

    The wrong kind would not fail at once: a sync manager calling an async
    store gets coroutines back, never awaited, and stores nothing.
    """
    wants_async = inspect.iscoroutinefunction(type(manager).create)  # type: ignore[attr-defined]
    if is_async_store(store) == wants_async:
        return
    name, kind = type(store).__name__, "async" if wants_async else "sync"
    other = "SessionManager" if wants_async else "AsyncSessionManager"
    twin = name.removeprefix("Async") if name.startswith("Async") else f"Async{name}"
    raise TypeError(
        f"{type(manager).__name__} needs {'an' if wants_async else 'a'} {kind} store, "
        f"and {name} is not: use {other} with it, or {twin}"
    )


# -- what a call means before its session exists ------------------------------

_F = TypeVar("_F")


def reads(before_creation: Callable[..., Any]) -> Callable[[_F], _F]:
    """Mark a session call as one that only reads (or moves the head), with what
    it returns on a session that does not exist yet: ``before_creation(*args)``.

    A lazy handle (the web layer's, created on the first write) answers such a
    call that way without touching the store; every unmarked call writes, and
    its first use creates the session.
    """

    def mark(method: _F) -> _F:
        method.before_creation = before_creation  # type: ignore[attr-defined]
        return method

    return mark


def nothing(*args: Any, **kwargs: Any) -> None:
    """Before creation: ``None`` (``pop``, ``clear``, ``refresh``, ``close``)."""


def no_items(*args: Any, **kwargs: Any) -> list[Any]:
    """Before creation: ``[]`` (``messages``, ``entries``, ``branches``...)."""
    return []


def no_state(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Before creation: ``{}`` (``state``)."""
    return {}


def no_checkpoint(checkpoint_id: str, **options: Any) -> NoReturn:
    """Before creation, no checkpoint exists (a malformed id is still refused)."""
    validate_id(checkpoint_id, "checkpoint id")
    raise CheckpointNotFound("checkpoint not found")


def no_entry(entry_id: str) -> NoReturn:
    """Before creation, no entry exists (a malformed id is still refused)."""
    validate_id(entry_id, "entry id")
    raise InvalidInput("unknown entry id")
