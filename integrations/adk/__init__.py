"""A Google ADK session service on every agentsession store (extra ``adk``).

:class:`AgentSessionService` is a ``BaseSessionService``: give it to ADK's
``Runner`` and the conversation lives in any agentsession store::

    service = AgentSessionService("sqlite:///chat.db")
    runner = Runner(agent=agent, app_name="weather", session_service=service)

The app is the agent name, the ADK user the owner, and the session id a hash
of (app, user, session id), since ADK's ids are per user (``docs/adk.md``,
"Mapping"). Each event is one ``"message"`` entry holding the Event model's
JSON dump, so ``num_recent_events=N`` reads N entries; a change of the
session's own state is a ``"state"`` entry with the whole state, in the same
atomic append as its event, and every event names the state entry current
at it. ``app:`` and ``user:`` state live in ledger sessions (``_shared``):
an event that changes them writes pending intents there, then commits by its
own append, then folds the intents; readers apply an intent only once its
event exists, so a crash never splits an event from its state change
(``docs/adk.md``, "State and atomicity").
"""

from __future__ import annotations

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
    SessionInfo,
    SessionNotFound,
)
from agentsession.extras import missing_extra
from agentsession.store import NewEntry, canonical_json, expiry_after_write, prepare_entry

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
    from pydantic_core import to_jsonable_python
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.adk (Google ADK)", "adk") from exc

from ._names import agent_name, ledger_key, owner, session_key, split_delta
from ._shared import SharedState

__all__ = ["AgentSessionService", "session_key"]

_PAGE: Final = 500
_SHARED: Final = (State.APP_PREFIX, State.USER_PREFIX, State.TEMP_PREFIX)


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


class _Mark:
    """What an ADK session object loaded here carries in its storage marker:
    the head it was read at (the next append's compare-and-swap) and the
    entry holding the session's own state then (``None``: the metadata's)."""

    def __init__(self, head: str | None, state: str | None) -> None:
        self.head, self.state = head, state

    def __str__(self) -> str:
        return f"{self.head or ''}/{self.state or ''}"

    @classmethod
    def parse(cls, marker: str) -> _Mark:
        head, _, state = marker.partition("/")
        return cls(head or None, state or None)


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
        self.shared = SharedState(self.manager, pending_timeout)
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
        mark = _Mark(None, None)
        if app or user:
            # The initial shared state is committed like an event's: by a
            # state entry of the new session (see the module docstring).
            mark, _ = await self._commit(s.info, app_name, user_id, app, user, own, [], mark)
        session = Session(
            id=sid,
            app_name=app_name,
            user_id=user_id,
            state=await self._merged(app_name, user_id, own),
            last_update_time=s.updated_at.timestamp(),
        )
        session._storage_update_marker = str(mark)
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
        events, newest = await self._read_events(s, limit, after)
        mark = _Mark(s.head, newest.data.get("state") if newest is not None else None)
        own = await self._state_at(s.info, mark)
        session = Session(
            id=session_id.strip(),
            app_name=app_name,
            user_id=user_id,
            state=await self._merged(app_name, user_id, own),
            events=events,
            last_update_time=s.updated_at.timestamp(),
        )
        session._storage_update_marker = str(mark)
        return session

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """The app's sessions (of ``user_id``, or of every user), oldest
        update first, without events or state (as the base class documents).
        Read the store's listing (indexed by agent and owner) in pages of
        500, 2 000, 8 000...: the cost follows the sessions listed, not the
        store's size."""
        agent = agent_name(app_name)
        who = UNCHECKED if user_id is None else owner(user_id)
        rows: list[SessionInfo] = []
        size = _PAGE
        while True:
            # Pages grow 4x: a store that pages by skipping (file) reads the
            # listing a few times, not once per page.
            page = await self.manager.list(agent, user_id=who, limit=size, offset=len(rows))
            rows.extend(page)
            if len(page) < size:
                break
            size *= 4
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
        for key in (ledger_key(app_name, None), ledger_key(app_name, user_id)):
            await self.shared.settle(key, fence=s.id)
        await self.manager.delete(s.id)
        self._limits.pop(s.id, None)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self.shared.state(ledger_key(app_name, user_id))

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
            info = s.info
            if marker is None:  # a session not loaded here: the stored state goes on
                _, newest = await self._read_events(s, 0, None)
                marker = str(_Mark(s.head, newest.data.get("state") if newest else None))
        else:
            info = self._info(key)
        mark = _Mark.parse(marker)
        app, user, own = split_delta(event.actions.state_delta if event.actions else {})
        state = None
        if own:
            # A session loaded here holds its own state as stored at the head
            # the write expects (the compare-and-swap refuses anything else).
            base = (
                await self._state_at(info, mark)
                if session._storage_update_marker is None
                else {k: v for k, v in session.state.items() if not k.startswith(_SHARED)}
            )
            base = to_jsonable_python(base)
            state = {**base, **own}
        mark, row = await self._commit(
            info, session.app_name, session.user_id, app, user, state, [event], mark
        )
        session._storage_update_marker = str(mark)
        session.last_update_time = row.updated_at.timestamp()
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
    ) -> tuple[list[Event], Entry | None]:
        """The events asked for, and the newest message entry (it names the
        entry holding the session's state)."""
        if after is None or limit == 0:
            entries = await s.messages(limit=1 if limit == 0 else limit)
            newest = entries[-1] if entries else None
            return ([] if limit == 0 else _events(entries)), newest
        # Page backwards until an event older than ``after``: the cost
        # follows the events returned, not the history.
        found: list[Event] = []
        newest = None
        before: str | None = None
        page = 64 if limit is None else min(limit, 64)
        while True:
            entries = await s.messages(limit=page, before=before)
            newest = newest or (entries[-1] if entries else None)
            events = _events(entries)
            kept = [e for e in events if e.timestamp >= after]
            found[:0] = kept
            if len(kept) < len(events) or len(entries) < page:
                break
            if limit is not None and len(found) >= limit:
                break
            before = entries[0].id
            page = min(page * 4, 1024)
        return (found[-limit:] if limit is not None else found), newest

    async def _state_at(self, info: SessionInfo, mark: _Mark) -> dict[str, Any]:
        """The session's own state: the entry the newest event names, else
        the state it was created with (its metadata)."""
        if mark.state is not None:
            # AsyncSession has no read of one entry: the store's get_entry.
            entry = await self.manager.store.get_entry(info.id, mark.state, now=self.manager.now())
            return dict(entry.data)
        base = info.metadata.get("adk_state")
        return dict(base) if isinstance(base, Mapping) else {}

    async def _merged(self, app_name: str, user_id: str, own: dict[str, Any]) -> dict[str, Any]:
        merged = dict(own)
        for prefix, key in (
            (State.APP_PREFIX, ledger_key(app_name, None)),
            (State.USER_PREFIX, ledger_key(app_name, user_id)),
        ):
            for name, value in (await self.shared.state(key)).items():
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
        mark: _Mark,
    ) -> tuple[_Mark, SessionInfo]:
        """Append ``events`` (and the session's new ``state``) to the session
        in one write under ``mark.head``, with the shared changes around it
        as the module docstring describes. ``StaleSessionError`` if the head
        moved. Returns the new mark and row."""
        now = self.manager.now()
        limit = self.manager.max_entry_bytes
        entries: list[NewEntry] = []
        pointer = mark.state
        if state is not None:
            entries.append(prepare_entry("state", state, now, limit))
            pointer = entries[0].id = "adk-" + secrets.token_hex(16)
        for event in events:
            data = _event_data(event)
            if pointer is not None:
                data["state"] = pointer
            entries.append(prepare_entry("message", data, now, limit))
        # Known before the write, so the intents can name it.
        entry_id = entries[-1].id = "adk-" + secrets.token_hex(16)
        shared = [
            (key, delta)
            for key, delta in (
                (ledger_key(app_name, None), app),
                (ledger_key(app_name, user_id), user),
            )
            if delta
        ]
        for _key, delta in shared:
            canonical_json(delta)  # refused here (InvalidInput), before any intent
        intent = {"s": info.id, "e": entry_id, "h": mark.head, "at": now.timestamp()}
        for key, delta in shared:
            await self.shared.settle(key, add={**intent, "d": delta})
        try:
            # The store call, not AsyncSession.append_entries: the entry ids
            # must be chosen before the write, for the intents and the
            # events' state pointers.
            row, _ = await self.manager.store.append(
                info.id,
                entries,
                now=now,
                expires_at=expiry_after_write(now, info.idle_timeout, info.deadline),
                expected_head=mark.head,
            )
        except (ConflictError, SessionNotFound) as exc:
            for key, _delta in shared:
                await self.shared.settle(key, drop=entry_id)
            if isinstance(exc, ConflictError):
                raise StaleSessionError(
                    "The session has been modified in storage since it was loaded."
                ) from None
            raise SessionNotFoundError("Session not found.") from None
        for key, _delta in shared:
            await self.shared.settle(key)
        return _Mark(row.head, pointer), row

    # -- the app and user state ledgers ------------------------------------------
