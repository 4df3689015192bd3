"""A Google ADK session service on every agentsession store (extra ``adk``).

:class:`AgentSessionService` is a ``BaseSessionService``: give it to ADK's
``Runner`` and the conversation lives in any agentsession store::

    service = AgentSessionService("sqlite:///chat.db")
    runner = Runner(agent=agent, app_name="weather", session_service=service)

Mapping (``docs/adk.md``): the app is the agent name (or ``adk-h-`` + a hash
when the name is not an agentsession agent name), the ADK user id is the
owner (hashed likewise when too long), and the agentsession session id is a
hash of ``(app, user, session id)``: ADK's session ids are per user, the
store's are global, so two users' ``"s1"`` stay two sessions and no user can
even learn that another's id exists. The ADK ids are kept in the metadata.

Each event is one ``"message"`` entry holding ``Event.model_dump(mode="json")``
(no pickle), so ``num_recent_events=N`` reads N entries. A change of the
session's own state is a ``"state"`` entry holding the whole state, written in
the same atomic append as its event; it is read back with ``limit=1``.

``app:`` and ``user:`` state is shared by sessions that live under different
ids (different Redis Cluster slots), which no store call writes together. It
lives in a ledger session per app and per (app, user): each ledger entry holds
the whole state and the *pending* changes. An event that changes it is written
in three steps: (1) a pending intent naming the event's entry is added to each
ledger, by compare-and-swap; (2) the event is appended to its session by
compare-and-swap on the head (that append is the commit); (3) the intents are
folded into the ledgers' state. A reader folds an intent only once its event
entry exists, so a crash after (1) or (2) shows the state change exactly when
the event is recorded. An intent left open longer than ``pending_timeout`` is
fenced: an entry appended under the head the writer expected makes the
writer's own compare-and-swap fail, so it can never commit later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from agentsession import (
    UNCHECKED,
    AsyncSession,
    AsyncSessionManager,
    ConflictError,
    Entry,
    InvalidInput,
    SessionInfo,
    SessionNotFound,
)
from agentsession.extras import missing_extra
from agentsession.store import NewEntry, expiry_after_write, prepare_entry, validate_id

try:
    from google.adk.errors import StaleSessionError
    from google.adk.errors.already_exists_error import AlreadyExistsError
    from google.adk.errors.session_not_found_error import SessionNotFoundError
    from google.adk.events.event import Event
    from google.adk.sessions.base_session_service import (
        BaseSessionService,
        GetSessionConfig,
        ListSessionsResponse,
    )
    from google.adk.sessions.session import Session
    from google.adk.sessions.state import State
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.adk (Google ADK)", "adk") from exc

__all__ = ["AgentSessionService", "session_key"]

LEDGER_AGENT: Final = "adk-state"
_LEDGER_KIND: Final = "adk_ledger"
_FENCE_KIND: Final = "adk_fence"
_HASHED: Final = "adk-h-"
_PAGE: Final = 500
_ATTEMPTS: Final = 64
_USER_ID_MAX: Final = 256
_SHARED: Final = (State.APP_PREFIX, State.USER_PREFIX, State.TEMP_PREFIX)


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def agent_name(app_name: str) -> str:
    """The agent name of an ADK app: the name itself when agentsession takes
    it, else ``adk-h-`` + 48 hex digits of SHA-256 of ``["app"]``."""
    try:
        validate_id(app_name, "agent name")
    except InvalidInput:
        return _HASHED + _digest(app_name)[:48]
    return _HASHED + _digest(app_name)[:48] if app_name.startswith(_HASHED) else app_name


def owner(user_id: str) -> str:
    """The agentsession owner of an ADK user id: itself when it is 1-256
    characters without NUL (and not ``adk-h-``...), else ``adk-h-`` + its hash."""
    if (
        isinstance(user_id, str)
        and 0 < len(user_id) <= _USER_ID_MAX
        and "\x00" not in user_id
        and not user_id.startswith(_HASHED)
    ):
        try:
            user_id.encode()
        except UnicodeEncodeError:
            pass
        else:
            return user_id
    return _HASHED + _digest(str(user_id))[:48]


def session_key(app_name: str, user_id: str, session_id: str) -> str:
    """The agentsession id of an ADK session: ``adk-`` + 60 hex digits of
    SHA-256 over the JSON array ``[app_name, user_id, session_id]``."""
    return "adk-" + _digest(app_name, user_id, session_id)[:60]


def _ledger_key(app_name: str, user_id: str | None) -> str:
    if user_id is None:
        return "adk-app-" + _digest("app", app_name)[:56]
    return "adk-user-" + _digest("user", app_name, user_id)[:56]


def split_delta(delta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(app, user, session) parts of a state delta, prefixes removed; ``temp:``
    keys are dropped (ADK never persists them)."""
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, value in delta.items():
        if key.startswith(State.APP_PREFIX):
            app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            user[key.removeprefix(State.USER_PREFIX)] = value
        elif not key.startswith(State.TEMP_PREFIX):
            own[key] = value
    return app, user, own


def _event_data(event: Event) -> dict[str, Any]:
    """An event as message data: ``role``, ``content`` (its text, if any),
    and ``adk``, the Event model's own JSON dump."""
    text = [p.text for p in (event.content.parts or []) if p.text] if event.content else []
    data: dict[str, Any] = {
        "role": "user" if event.author == "user" else "assistant",
        "adk": event.model_dump(mode="json", exclude_none=True),
    }
    if text:
        data["content"] = "\n".join(t for t in text if t)
    return data


def _events(entries: Sequence[Entry]) -> list[Event]:
    return [Event.model_validate(e.data["adk"]) for e in entries if "adk" in e.data]


class _Ledger:
    """One ledger's last entry, read: its state and pending intents."""

    def __init__(self, info: SessionInfo | None, data: Mapping[str, Any]) -> None:
        self.info = info
        self.state: dict[str, Any] = dict(data.get("state", {}))
        self.pending: list[dict[str, Any]] = [dict(p) for p in data.get("pending", [])]


class AgentSessionService(BaseSessionService):
    """An ADK ``BaseSessionService`` over an agentsession store.

    Args:
        manager: an :class:`~agentsession.AsyncSessionManager`, a store URL,
            or ``None`` for the default store. One made here from a URL is
            closed by :meth:`close`. Its ``ttl``/``idle_timeout`` apply to
            the ADK sessions, never to the app and user state ledgers.
        pending_timeout: how long an intent may stay open (its writer between
            steps 1 and 2 of the module docstring) before a reader fences it.
    """

    def __init__(
        self,
        manager: AsyncSessionManager | str | None = None,
        *,
        pending_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self._owns_manager = not isinstance(manager, AsyncSessionManager)
        self.manager = (
            manager if isinstance(manager, AsyncSessionManager) else AsyncSessionManager(manager)
        )
        self.pending_timeout = pending_timeout
        # (idle timeout, deadline) of the sessions seen: what an append's
        # expiry needs, fixed for a session's life.
        self._limits: dict[str, tuple[float | None, datetime | None]] = {}

    async def close(self) -> None:
        """Close the manager if it was made here from a URL."""
        if self._owns_manager:
            await self.manager.close()

    # -- sessions -------------------------------------------------------------

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        sid = session_id.strip() if session_id and session_id.strip() else Event.new_id()
        app, user, own = split_delta(state or {})
        meta = {"adk": {"app": app_name, "user": user_id, "id": sid}, "adk_state": own}
        try:
            s = await self.manager.create(
                agent_name(app_name),
                user_id=owner(user_id),
                session_id=session_key(app_name, user_id, sid),
                metadata=meta,
            )
        except ConflictError:
            raise AlreadyExistsError(f"Session with id {sid} already exists.") from None
        self._remember(s.info)
        head = s.head
        if app or user:
            # The initial shared state is committed like an event's: by a
            # state entry of the new session (see the module docstring).
            info = await self._commit(
                s.info, app_name, user_id, app, user, own, [], expected_head=head
            )
            head = info.head
        session = Session(
            id=sid,
            app_name=app_name,
            user_id=user_id,
            state=await self._merged(app_name, user_id, own),
            last_update_time=s.updated_at.timestamp(),
        )
        session._storage_update_marker = head or ""
        return session

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        s = await self._find(app_name, user_id, session_id)
        if s is None:
            return None
        limit = config.num_recent_events if config else None
        after = config.after_timestamp if config else None
        events: list[Event] = []
        if limit != 0:
            events = await self._read_events(s, limit, after)
        own = await self._own_state(s)
        session = Session(
            id=session_id.strip(),
            app_name=app_name,
            user_id=user_id,
            state=await self._merged(app_name, user_id, own),
            events=events,
            last_update_time=s.updated_at.timestamp(),
        )
        session._storage_update_marker = s.head or ""
        return session

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """The app's sessions (of ``user_id``, or of every user), oldest
        update first, without events or state (as the base class documents).
        Read a page of the store's listing (indexed by agent and owner) at a
        time: the cost follows the sessions listed, not the store's size."""
        agent = agent_name(app_name)
        who = UNCHECKED if user_id is None else owner(user_id)
        rows: list[SessionInfo] = []
        offset = 0
        while True:
            page = await self.manager.list(agent, user_id=who, limit=_PAGE, offset=offset)
            rows.extend(page)
            offset += len(page)
            if len(page) < _PAGE:
                break
        sessions = []
        for info in reversed(rows):
            adk = info.metadata.get("adk")
            if not isinstance(adk, Mapping) or adk.get("app") != app_name:
                continue  # another agent's session under the same name
            if user_id is not None and adk.get("user") != user_id:
                continue
            sessions.append(
                Session(
                    id=adk["id"],
                    app_name=app_name,
                    user_id=adk["user"],
                    last_update_time=info.updated_at.timestamp(),
                )
            )
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        s = await self._find(app_name, user_id, session_id)
        if s is None:
            return
        # Settle every open intent of this session first: once it is gone, an
        # intent's event could no longer be found, and its change would be lost.
        for key in (_ledger_key(app_name, None), _ledger_key(app_name, user_id)):
            await self._settle(key, fence=s.id)
        await self.manager.delete(s.id)
        self._limits.pop(s.id, None)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self._shared(_ledger_key(app_name, user_id))

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        key = session_key(session.app_name, session.user_id, session.id)
        marker = session._storage_update_marker
        if marker is None or key not in self._limits:
            s = await self._find(session.app_name, session.user_id, session.id)
            if s is None:
                raise SessionNotFoundError(f"Session {session.id} not found.")
            head = s.head if marker is None else marker or None
            info = s.info
        else:
            head, info = marker or None, self._info(key)
        app, user, own = split_delta(event.actions.state_delta if event.actions else {})
        state = None
        if own:
            # A session loaded here holds its own state as stored at the head
            # the write expects (the compare-and-swap refuses anything else).
            base = (
                await self._own_state_of(key, info)
                if marker is None
                else {k: v for k, v in session.state.items() if not k.startswith(_SHARED)}
            )
            state = {**base, **own}
        info = await self._commit(
            info, session.app_name, session.user_id, app, user, state, [event], expected_head=head
        )
        session._storage_update_marker = info.head or ""
        session.last_update_time = info.updated_at.timestamp()
        return self._commit_event_to_session(session, event)

    # -- the session's own parts -------------------------------------------------

    async def _find(self, app_name: str, user_id: str, session_id: str) -> AsyncSession | None:
        sid = session_id.strip() if isinstance(session_id, str) else session_id
        key = session_key(app_name, user_id, sid)
        try:
            s = await self.manager.find(key, user_id=owner(user_id))
        except SessionNotFound:  # AccessDenied: answered as for an unknown id
            return None
        if s is None or s.metadata.get("adk") != {"app": app_name, "user": user_id, "id": sid}:
            return None
        self._remember(s.info)
        return s

    def _remember(self, info: SessionInfo) -> None:
        if len(self._limits) > 10_000:
            self._limits.clear()
        self._limits[info.id] = (info.idle_timeout, info.deadline)

    def _info(self, key: str) -> SessionInfo:
        """A row carrying what an append needs (id, limits) for ``key``."""
        idle, deadline = self._limits[key]
        now = self.manager.now()
        return SessionInfo(key, "", None, now, now, idle_timeout=idle, deadline=deadline)

    async def _read_events(
        self, s: AsyncSession, limit: int | None, after: float | None
    ) -> list[Event]:
        if after is None:
            return _events(await s.messages(limit=limit))
        # Page backwards until an event older than ``after``: the cost
        # follows the events returned, not the history.
        found: list[Event] = []
        before: str | None = None
        page = 64 if limit is None else min(limit, 64) or 64
        while True:
            entries = await s.messages(limit=page, before=before)
            events = _events(entries)
            kept = [e for e in events if e.timestamp >= after]
            found[:0] = kept
            if len(kept) < len(events) or len(entries) < page:
                break
            if limit is not None and len(found) >= limit:
                break
            before = entries[0].id
            page = min(page * 4, 1024)
        return found[-limit:] if limit is not None else found

    async def _own_state(self, s: AsyncSession) -> dict[str, Any]:
        return await self._own_state_of(s.id, s.info)

    async def _own_state_of(self, key: str, info: SessionInfo) -> dict[str, Any]:
        # The manager reads state by merging every "state" entry; the last
        # one holds the whole state here, so the store is asked for it alone.
        row, last = await self.manager.store.read_path(
            key, now=self.manager.now(), kind="state", limit=1
        )
        if last:
            return dict(last[0].data)
        base = row.metadata.get("adk_state")
        return dict(base) if isinstance(base, Mapping) else {}

    async def _merged(self, app_name: str, user_id: str, own: dict[str, Any]) -> dict[str, Any]:
        merged = dict(own)
        for prefix, key in (
            (State.APP_PREFIX, _ledger_key(app_name, None)),
            (State.USER_PREFIX, _ledger_key(app_name, user_id)),
        ):
            for name, value in (await self._shared(key)).items():
                merged[prefix + name] = value
        return merged

    # -- committing an event with its state ----------------------------------------

    async def _commit(
        self,
        info: SessionInfo,
        app_name: str,
        user_id: str,
        app: dict[str, Any],
        user: dict[str, Any],
        state: dict[str, Any] | None,
        events: list[Event],
        *,
        expected_head: str | None,
    ) -> SessionInfo:
        """Append ``events`` (and the session's new ``state``) to the session
        in one write, with the shared changes around it as the module
        docstring describes. ``StaleSessionError`` if the head moved."""
        now = self.manager.now()
        entries: list[NewEntry] = [
            prepare_entry("message", _event_data(e), now, self.manager.max_entry_bytes)
            for e in events
        ]
        if state is not None or not entries:
            entries.append(prepare_entry("state", state or {}, now, self.manager.max_entry_bytes))
        # Known before the write, so the intents can name it.
        entry_id = entries[0].id = "adk-" + secrets.token_hex(16)
        shared = [
            (key, delta)
            for key, delta in (
                (_ledger_key(app_name, None), app),
                (_ledger_key(app_name, user_id), user),
            )
            if delta
        ]
        intent = {
            "s": info.id,
            "e": entry_id,
            "h": expected_head,
            "at": now.timestamp(),
        }
        for key, delta in shared:
            await self._settle(key, add={**intent, "d": delta})
        try:
            # The store call, not AsyncSession.append_entries: the event's
            # entry id must be chosen before the write, for the intents.
            row, _ = await self.manager.store.append(
                info.id,
                entries,
                now=now,
                expires_at=expiry_after_write(now, info.idle_timeout, info.deadline),
                expected_head=expected_head,
            )
        except (ConflictError, SessionNotFound) as exc:
            for key, _delta in shared:
                await self._settle(key, drop=entry_id)
            if isinstance(exc, ConflictError):
                raise StaleSessionError(
                    "The session has been modified in storage since it was loaded."
                ) from None
            raise SessionNotFoundError("Session not found.") from None
        for key, _delta in shared:
            await self._settle(key)
        return row

    # -- the app and user state ledgers ------------------------------------------

    async def _read_ledger(self, key: str) -> _Ledger:
        # One store call for the row and the last entry: the manager's
        # session reads have no "last entry of this kind" for other kinds
        # than messages.
        try:
            row, last = await self.manager.store.read_path(
                key, now=self.manager.now(), kind=_LEDGER_KIND, limit=1
            )
        except SessionNotFound:
            return _Ledger(None, {})
        return _Ledger(row, last[0].data if last else {})

    async def _shared(self, key: str) -> dict[str, Any]:
        """The ledger's state with every committed intent applied."""
        ledger = await self._read_ledger(key)
        if not ledger.pending:
            return ledger.state
        state, _ = await self._resolve(ledger, fence=None)
        return state

    async def _resolve(
        self, ledger: _Ledger, *, fence: str | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(state with the committed intents applied, the intents still
        open). An open intent older than ``pending_timeout``, or of the
        session ``fence``, is fenced first."""
        state = dict(ledger.state)
        still: list[dict[str, Any]] = []
        for intent in ledger.pending:
            committed = await self._committed(intent)
            if committed is None:
                aged = self.manager.now().timestamp() - intent["at"]
                if fence == intent["s"] or aged >= self.pending_timeout.total_seconds():
                    await self._fence(intent)
                    committed = bool(await self._committed(intent))
            if committed:
                state.update(intent["d"])
            elif committed is None:
                still.append(intent)
        return state, still

    async def _committed(self, intent: Mapping[str, Any]) -> bool | None:
        """True: its entry exists. False: its session is gone. None: open."""
        try:
            await self.manager.store.get_entry(intent["s"], intent["e"], now=self.manager.now())
        except InvalidInput:
            return None
        except SessionNotFound:
            return False
        return True

    async def _fence(self, intent: Mapping[str, Any]) -> None:
        """Make the intent's writer unable to commit: an entry under the head
        it expects moves that head (or the head has moved already)."""
        now = self.manager.now()
        fence = prepare_entry(_FENCE_KIND, {"entry": intent["e"]}, now, None)
        with contextlib.suppress(ConflictError, SessionNotFound):
            await self.manager.store.append(
                intent["s"], [fence], now=now, expires_at=None, expected_head=intent["h"]
            )

    async def _settle(
        self,
        key: str,
        *,
        add: dict[str, Any] | None = None,
        drop: str | None = None,
        fence: str | None = None,
    ) -> None:
        """Rewrite the ledger by compare-and-swap: committed intents folded
        into its state, ``drop`` removed, ``add`` appended."""
        for _ in range(_ATTEMPTS):
            ledger = await self._read_ledger(key)
            if ledger.info is None:
                await self._create_ledger(key)
                continue
            state, pending = await self._resolve(ledger, fence=fence)
            pending = [p for p in pending if p["e"] != drop]
            if add is not None:
                pending.append(add)
            if state == ledger.state and pending == ledger.pending:
                return
            s = AsyncSession(self.manager, ledger.info)
            try:
                await s.append_entry(
                    _LEDGER_KIND,
                    {"state": state, "pending": pending},
                    expected_head=ledger.info.head,
                )
            except ConflictError:
                continue
            return
        raise ConflictError("the shared state kept changing while it was written")

    async def _create_ledger(self, key: str) -> None:
        with contextlib.suppress(ConflictError):  # another writer made it
            await self.manager.create(LEDGER_AGENT, session_id=key, ttl=None, idle_timeout=None)
