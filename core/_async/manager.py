"""``AsyncSessionManager``: creates, finds, lists and deletes sessions."""

from __future__ import annotations

import asyncio
import enum
import inspect
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Literal, Unpack

from .._audit import (
    AuditSink,
    audited,
    make_auditor,
    of_create,
    of_prune,
    of_request,
    of_session_result,
)
from .._canonical import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_MAX_METADATA_BYTES,
    is_chained,
)
from .._exceptions import (
    AccessDenied,
    BlockingCallInEventLoop,
    ConflictError,
    InvalidInput,
    SessionNotFound,
    StoreClosed,
    blocking_call,
)
from .._exports import check_export
from .._ids import new_id, validate_id, validate_user_id
from .._models import (
    UNCHECKED,
    Checkpoint,
    ManagerOptions,
    SearchHit,
    SessionExport,
    SessionInfo,
    Unchecked,
    copy_info,
)
from .._registry import open_async_store
from .._rules import (
    check_max_messages,
    check_owner,
    check_store_kind,
    check_user_filter,
    expiry_after_write,
    new_session_info,
    retention_policy,
)
from .._search import check_limit, parse_query
from .._turns import CallOptions, Turn, TurnOptions, invoke, turn_options
from .._turns import agent_name as default_agent_name
from ..config import load_config
from .protocol import AsyncStore
from .session import AsyncSession
from .turn_stream import AsyncTurnStream

__all__ = ["AsyncSessionManager"]


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"


_DEFAULT: Final = _Default.DEFAULT


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _positive_timedelta(value: timedelta | None, name: str) -> timedelta | None:
    if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
        raise InvalidInput(f"{name} must be a positive timedelta or None")
    return value


#: Sessions whose last checkpoint a manager remembers (least recently used go).
_POINT_HINTS = 4096


class AsyncSessionManager:
    """Entry point: sessions of any agent, on one store.

    Args:
        store: an :class:`AsyncStore`, a store URL, or ``None`` for
            ``open_async_store()``'s default (``AGENTSESSION_STORE_URL``, else
            SQLite under ``~/.agentsession``).
        ttl: default absolute lifetime of new sessions (from creation).
        idle_timeout: default inactivity timeout of new sessions (renewed by
            every write; reads do not renew).
        max_messages: default limit on messages on a session's path.
        on_limit: what ``max_messages`` means: ``"refuse"`` (default) stores
            it with each new session, and a write beyond it raises
            ``LimitExceeded``; ``"window"`` stores no limit (writes go on)
            and every session object of this manager reads at most the last
            ``max_messages`` messages when ``messages()`` is given no limit.
        checkpoint_every: an append takes a checkpoint when the last one (or
            the creation) is older than this.
        max_entry_bytes: largest canonical JSON of one entry's data.
        max_metadata_bytes: largest canonical JSON of a session's metadata
            (at creation and per update) and of a checkpoint's.
        max_batch: most entries one write (``extend``) may add.
        clock: returns the current aware UTC time (tests inject a fake one).
        audit: report every write and every refused read as an
            :class:`~agentsession.AuditEvent`: ``True`` to the
            ``agentsession.audit`` logger, or to a callable you pass.
        audit_ids: ``"clear"`` (default) or ``"hashed"`` (SHA-256) session
            ids in those events.

    Close the store at the end: use it as ``async with manager: ...``.
    """

    def __init__(
        self,
        store: AsyncStore | str | None = None,
        *,
        ttl: timedelta | None = None,
        idle_timeout: timedelta | None = None,
        max_messages: int | None = None,
        checkpoint_every: timedelta | None = None,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], datetime] | None = None,
        audit: AuditSink | bool = False,
        audit_ids: Literal["clear", "hashed"] = "clear",
        on_limit: Literal["refuse", "window"] = "refuse",
    ) -> None:
        # Every default is checked before a store is opened from a URL.
        if on_limit not in ("refuse", "window"):
            raise InvalidInput('on_limit must be "refuse" or "window"')
        self.on_limit: Literal["refuse", "window"] = on_limit
        self.ttl = _positive_timedelta(ttl, "ttl")
        self.idle_timeout = _positive_timedelta(idle_timeout, "idle_timeout")
        self.max_messages = check_max_messages(max_messages)
        self.checkpoint_every = _positive_timedelta(checkpoint_every, "checkpoint_every")
        if store is None or isinstance(store, str):
            store = open_async_store(store)
        else:
            check_store_kind(store, self)
        self.store: AsyncStore = store
        self.max_entry_bytes = max_entry_bytes
        self.max_metadata_bytes = max_metadata_bytes
        self.max_batch = max_batch
        self._clock = clock or _utcnow
        self._audit, self._audit_ids = audit, audit_ids
        self._auditor = make_auditor(audit, audit_ids, self._tick)
        self._closed = False
        # Per session, the last checkpoint taken or verified through this
        # manager, with a chained checksum: where the next one goes on from.
        self._points: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._points_lock = threading.Lock()  # a sync manager is shared by threads
        # A sync manager warns once if it is called on an event loop's thread.
        self._watch_loop = not inspect.iscoroutinefunction(type(self).create)

    def options(self) -> ManagerOptions:
        """This manager's options, its clock included, as the constructor takes them."""
        return ManagerOptions(
            ttl=self.ttl,
            idle_timeout=self.idle_timeout,
            max_messages=self.max_messages,
            checkpoint_every=self.checkpoint_every,
            max_entry_bytes=self.max_entry_bytes,
            max_metadata_bytes=self.max_metadata_bytes,
            max_batch=self.max_batch,
            clock=self._tick,
            audit=self._audit,
            audit_ids=self._audit_ids,
            on_limit=self.on_limit,
        )

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None) -> AsyncSessionManager:
        """A manager made from a configuration file (``agentsession.config``).

        Args:
            path: the file; ``None`` searches ``$AGENTSESSION_CONFIG``, then
                ``agentsession.toml``, ``agentsession.yaml`` and
                ``pyproject.toml`` (``[tool.agentsession]``) in the working
                directory. With no file found, the defaults.

        Raises:
            ConfigError: an unknown key or a bad value (named, with the file).
        """
        config = load_config(path)
        return cls(config.async_store(), **config.manager_options())

    def with_store(self, store: AsyncStore) -> AsyncSessionManager:
        """A manager over ``store`` with this one's options and clock.

        No I/O. The new manager shares this one's clock, so closing this
        manager stops it too; closing it closes ``store``, never this one's.
        For a twin of the other kind, pass :meth:`options` to its constructor.
        """
        return AsyncSessionManager(store, **self.options())

    def _point_hint(self, session_id: str) -> tuple[str, str] | None:
        """(entry id, chained checksum) of the session's last checkpoint known
        here, for the session objects' checkpoints (see :meth:`remember_point`)."""
        with self._points_lock:
            return self._points.get(session_id)

    def _remember_point(self, point: Checkpoint) -> None:
        """Keep ``point`` as where the session's next checkpoint goes on from,
        if it has a chained checksum (taken here, or verified by a restore)."""
        if point.entry_id is None or not is_chained(point.checksum):
            return
        with self._points_lock:
            self._points[point.session_id] = (point.entry_id, point.checksum)
            self._points.move_to_end(point.session_id)
            if len(self._points) > _POINT_HINTS:
                self._points.popitem(last=False)

    def now(self) -> datetime:
        """The manager's clock (aware UTC)."""
        if self._watch_loop:
            self._check_thread()
        return self._tick()

    def _tick(self) -> datetime:
        # The clock a twin shares (see options()): it stops when this manager
        # is closed, and it does not watch threads (the twin does its own).
        if self._closed:
            raise StoreClosed("the session manager is closed")
        return self._clock()

    def _check_thread(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._watch_loop = False
        warnings.warn(blocking_call(type(self).__name__), BlockingCallInEventLoop, stacklevel=4)

    @audited("create", of_create)
    async def create(
        self,
        agent: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        ttl: timedelta | _Default | None = _DEFAULT,
        idle_timeout: timedelta | _Default | None = _DEFAULT,
        max_messages: int | _Default | None = _DEFAULT,
    ) -> AsyncSession:
        """Create a session; a taken ``session_id`` raises ``ConflictError``."""
        info = new_session_info(
            session_id=session_id,
            agent=agent,
            user_id=user_id,
            metadata=metadata,
            now=self.now(),
            ttl=self.ttl if ttl is _DEFAULT else ttl,
            idle_timeout=self.idle_timeout if idle_timeout is _DEFAULT else idle_timeout,
            max_messages=(
                None
                if self.on_limit == "window"
                else self.max_messages
                if max_messages is _DEFAULT
                else max_messages
            ),
            max_metadata_bytes=self.max_metadata_bytes,
        )
        await self.store.create_session(info)
        return AsyncSession(self, info)

    @audited("get", of_request, refusals_only=True)
    async def get(
        self, session_id: str, *, user_id: str | Unchecked | None = UNCHECKED
    ) -> AsyncSession:
        """The live session with this id.

        ``user_id=UNCHECKED`` (default) is for trusted server code: no owner
        check. ``user_id="u"``: it must be owned by u. ``user_id=None``: the
        caller is anonymous, so only unowned sessions are found.

        Raises:
            SessionNotFound: unknown, expired or deleted.
            AccessDenied: exists but not for this caller (a SessionNotFound).
        """
        validate_id(session_id, "session id")
        check_user_filter(user_id)
        info = await self.store.get_session(session_id, now=self.now())
        check_owner(info, user_id)
        return AsyncSession(self, info)

    async def get_or_create(self, agent: str, user_id: str | None = None) -> AsyncSession:
        """The user's most recently updated session of ``agent``, or a new one.
        Anonymous callers (``user_id=None``) always get a new session."""
        validate_id(agent, "agent name")
        if user_id is not None:
            rows = await self.list(agent, user_id=user_id, limit=1)
            if rows:
                return AsyncSession(self, rows[0])
        return await self.create(agent, user_id=user_id)

    async def find(
        self, session_id: str, *, user_id: str | Unchecked | None = UNCHECKED
    ) -> AsyncSession | None:
        """:meth:`get`, but ``None`` when no live session has this id.

        A session that exists but is someone else's still raises
        ``AccessDenied``: a caller that would create one must not.
        """
        try:
            return await self.get(session_id, user_id=user_id)
        except AccessDenied:
            raise
        except SessionNotFound:
            return None

    async def attach(
        self, session_id: str, agent: str, *, user_id: str | Unchecked | None = UNCHECKED
    ) -> AsyncSession:
        """The session with this id, created now if there is none.

        For frameworks whose conversations the application names (a thread
        or conversation id). An existing session is judged by the owner
        rules of :meth:`get` (``AccessDenied``); a new one is owned by
        ``user_id`` when that is a user. An expired session's id is reused.
        """
        owner = None if user_id is UNCHECKED else user_id
        for _ in range(3):
            found = await self.find(session_id, user_id=user_id)
            if found is not None:
                return found
            try:
                return await self.create(agent, user_id=owner, session_id=session_id)
            except ConflictError:  # a concurrent first write, or an expired row
                if await self.find(session_id, user_id=user_id) is None:
                    await self.delete(session_id)  # expired, not yet pruned
        raise ConflictError("the session id kept being taken while attaching")

    async def call_with_session(
        self, agent: object, input: object, **options: Unpack[CallOptions]
    ) -> Turn:
        """Run ``agent`` on ``input`` in a session and record the turn atomically.

        ``options`` (:class:`CallOptions`): the session (``session_id``,
        ``user_id``, ``agent_name``) and how the turn is recorded (``turn_id``,
        ``on_conflict``, ``record_errors``); the rest is
        :meth:`AsyncSession.run`.
        """
        session, turn = await self._session_for(agent, options)
        return await session.run(agent, input, **turn)

    async def stream_with_session(
        self, agent: object, input: object, **options: Unpack[CallOptions]
    ) -> AsyncTurnStream:
        """:meth:`call_with_session`, streaming: see :meth:`AsyncSession.stream`."""
        session, turn = await self._session_for(agent, options)
        return await session.stream(agent, input, **turn)

    async def _session_for(
        self, agent: object, options: CallOptions
    ) -> tuple[AsyncSession, TurnOptions]:
        invoke(agent)  # not an agent: refused before any store call
        session_id = options.get("session_id")
        user_id = options.get("user_id", UNCHECKED)
        turn = turn_options(options)
        if session_id is not None:
            return await self.get(session_id, user_id=user_id), turn
        owner = None if user_id is UNCHECKED else user_id
        name = options.get("agent_name") or default_agent_name(agent)
        return await self.create(name, user_id=owner), turn

    async def search(
        self,
        query: str,
        *,
        user_id: str | Unchecked | None,
        agent: str | None = None,
        limit: int = 10,
    ) -> list[SearchHit]:
        """Messages of live sessions that hold every word of ``query``.

        Best first, then newest first; each hit names its session and entry
        and carries a snippet. Owner rules as :meth:`list`, but ``user_id``
        has no default: pass a user id (that user's sessions only), ``None``
        (unowned sessions only) or ``UNCHECKED`` (any owner, trusted code).
        Every message of a session is searched, on every branch; a message
        repeated in one session (a compaction copies what it keeps) is one
        hit. See ``docs/design.md``, "Search".

        Raises:
            InvalidInput: a query of no words, over 1,000 characters or 32
                words; a limit outside 1..100.
            SearchUnavailable: the store cannot search (an encrypted store).
        """
        words = parse_query(query)
        check_limit(limit)
        if agent is not None:
            validate_id(agent, "agent name")
        check_user_filter(user_id)
        return await self.store.search(
            words, user_id=user_id, agent=agent, limit=limit, now=self.now()
        )

    async def list(
        self,
        agent: str | None = None,
        *,
        user_id: str | Unchecked | None = UNCHECKED,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionInfo]:
        """Live sessions, newest ``updated_at`` first; owner rules as :meth:`get`."""
        if agent is not None:
            validate_id(agent, "agent name")
        check_user_filter(user_id)
        for name, value in (("limit", limit), ("offset", offset)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"{name} must be a non-negative integer")
        return await self.store.list_sessions(
            agent=agent, user_id=user_id, limit=limit, offset=offset, now=self.now()
        )

    @audited("delete", of_request)
    async def delete(self, session_id: str) -> bool:
        """Erase the session, all its entries and checkpoints. False if absent."""
        validate_id(session_id, "session id")
        self.now()
        return await self.store.delete_session(session_id)

    @audited("prune", of_prune)
    async def prune(
        self,
        *,
        batch: int = 500,
        older_than: timedelta | None = None,
        keep_newest: int | None = None,
        per: Literal["user", "agent", "user_agent"] = "user",
        agent: str | None = None,
        dry_run: bool = False,
    ) -> int:
        """Erase expired sessions, and those the retention policies name.

        Args:
            batch: sessions erased (or listed) per store call; no call holds
                a lock for longer than one batch (a policy's delete is one
                session).
            older_than: also erase sessions not written for this long.
            keep_newest: also erase all but the newest ``keep_newest``
                sessions of each ``per`` group: one ``"user"`` (an anonymous
                session is a group of its own), one ``"agent"``, or each
                ``"user_agent"`` pair.
            agent: apply the policies to this agent's sessions only.
            dry_run: erase nothing; count what the policies would erase
                (expired sessions are not listable, so not counted).

        Returns:
            How many sessions were erased (or would be). A session written
            while the policies run is kept (its delete is conditional on the
            revision seen), to be looked at again by the next run.
        """
        policy = retention_policy(older_than, keep_newest, per, batch)
        if agent is not None:
            validate_id(agent, "agent name")
        total = 0
        while not dry_run:
            erased = await self.store.prune_expired(now=self.now(), batch=batch)
            total += erased
            if erased < batch:
                break
        if policy is None:
            return total
        kept: dict[object, int] = {}
        offset = 0
        while True:
            now = self.now()
            rows = await self.store.list_sessions(
                agent=agent, user_id=UNCHECKED, limit=batch, offset=offset, now=now
            )
            for info in rows:
                if not policy.doomed(info, now, kept):
                    offset += 1
                elif dry_run:
                    offset += 1
                    total += 1
                else:
                    try:
                        total += await self.store.delete_session(
                            info.id, expected_revision=info.revision
                        )
                    except ConflictError:  # written meanwhile: kept
                        offset += 1
            if len(rows) < batch:
                return total

    @audited("rotate_id", of_session_result)
    async def rotate_id(
        self, session_id: str, *, user_id: str | Unchecked | None = UNCHECKED
    ) -> AsyncSession:
        """Move a session to a fresh id (and, unless ``UNCHECKED``, a new owner).

        Web integrations call this when an anonymous session is claimed at
        login, so the id known before login stops working.
        """
        validate_id(session_id, "session id")
        if user_id is not UNCHECKED and user_id is not None:
            validate_user_id(user_id)
        now = self.now()
        current = await self.store.get_session(session_id, now=now)
        info = await self.store.rotate_id(
            session_id,
            new_id(),
            user_id=user_id,
            now=now,
            expires_at=expiry_after_write(now, current.idle_timeout, current.deadline),
        )
        return AsyncSession(self, info)

    async def export_session(self, session_id: str) -> SessionExport:
        """Everything of one session, for :meth:`import_session` on another store."""
        validate_id(session_id, "session id")
        return await self.store.export_session(session_id, now=self.now())

    @audited("import", of_session_result)
    async def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> AsyncSession:
        """Write an exported session into this manager's store, unchanged.

        The export is checked whole before the store is touched (see
        ``agentsession._exports``); a bad one stores nothing.
        ``expected_revision``: replace the live session of that id instead,
        whole and atomically, if it is still at that revision
        (``ConflictError`` otherwise); the export must keep its agent and
        owner (``InvalidInput``).

        Raises:
            InvalidInput: a malformed id, owner, JSON value, tree, head or
                checkpoint.
            IntegrityError: an entry does not match its digest, or a
                checkpoint's path does not match its checksum.
            LimitExceeded: an entry is larger than ``max_entry_bytes``.
            ConflictError: a live session already has this id.
        """
        check_export(export, max_bytes=self.max_entry_bytes)
        now = self.now()
        if expected_revision is not None:
            there = await self.store.get_session(export.session.id, now=now)
            if (there.agent, there.user_id) != (export.session.agent, export.session.user_id):
                raise InvalidInput("a replacement must keep the session's agent and owner")
        await self.store.import_session(export, expected_revision=expected_revision)
        # A copy: the caller's export must not be the session object's snapshot.
        return AsyncSession(self, copy_info(export.session))

    async def close(self) -> None:
        """Close the store. Idempotent."""
        if not self._closed:
            self._closed = True
            await self.store.close()

    async def __aenter__(self) -> AsyncSessionManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
