"""``AsyncLazySession``: the session a web request gets, created on first write.

It has the methods of :class:`~agentsession.AsyncSession`. Nothing touches the
store until a method is called; the id the request named is checked then
(once per request), and a session is created only by the first write, owned by
the logged-in user if any. Reads on a session that does not exist yet return
empty results (``messages()`` -> ``[]``, ``state()`` -> ``{}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from agentsession._async.manager import AsyncSessionManager
from agentsession._async.session import AsyncSession
from agentsession._exceptions import CheckpointNotFound, InvalidInput, SessionNotFound
from agentsession._ids import validate_id
from agentsession._models import (
    MESSAGE,
    STATE,
    UNCHECKED,
    Branch,
    Checkpoint,
    Entry,
    SessionInfo,
    Unchecked,
)
from agentsession._rules import json_patch

from .._twins import AsyncReader, async_lock
from ..resolution import RequestState, Verdict
from ..writes import check_first_write

__all__ = ["AsyncLazySession"]

T = TypeVar("T")


class AsyncLazySession:
    """The request's session, resolved on first use and created on first write.

    Frameworks build it from their app's manager and the request's
    :class:`~agentsession.integrations._web.resolution.RequestState`; views
    get it from the framework (``request.state.agent_session``, ...).
    """

    def __init__(self, manager: AsyncSessionManager, state: RequestState) -> None:
        self._manager = manager
        self._state = state
        self._session: AsyncSession | None = None
        self._lock = async_lock()

    def __repr__(self) -> str:
        # The id is a bearer token: never in reprs or logs.
        return f"<AsyncLazySession agent={self.agent!r} exists={self.exists}>"

    # -- snapshot properties ---------------------------------------------------

    @property
    def info(self) -> SessionInfo | None:
        """The row as last read or written; ``None`` until the session has been
        loaded (by any call) or created (by the first write)."""
        return self._session.info if self._session is not None else self._state.info

    @property
    def exists(self) -> bool:
        """Whether a stored session is known to back this handle (see :attr:`info`)."""
        return self.info is not None

    @property
    def id(self) -> str | None:
        info = self.info
        return info.id if info is not None else None

    @property
    def agent(self) -> str:
        return self._state.settings.agent

    @property
    def user_id(self) -> str | None:
        info = self.info
        return info.user_id if info is not None else self._state.user_id

    @property
    def head(self) -> str | None:
        info = self.info
        return info.head if info is not None else None

    @property
    def message_count(self) -> int:
        info = self.info
        return info.message_count if info is not None else 0

    @property
    def revision(self) -> int:
        info = self.info
        return info.revision if info is not None else 0

    @property
    def metadata(self) -> dict[str, Any]:
        info = self.info
        return dict(info.metadata) if info is not None else {}

    # -- resolution ------------------------------------------------------------

    async def get(self) -> AsyncSession | None:
        """The stored session, or ``None`` if the request has none yet.

        Raises:
            SessionNotFound: the request's header named a session it cannot
                have (unknown, expired, deleted or someone else's).
        """
        if self._session is not None:
            self._state.touched = True
            return self._session
        async with self._lock:
            if self._session is None:
                self._session = await self._resolve()
            return self._session

    async def get_or_create(self) -> AsyncSession:
        """The stored session, created now (for the current user) if needed."""
        session = await self.get()
        if session is not None:
            return session
        async with self._lock:
            if self._session is None:
                if self._state.info is not None:  # created through the twin handle
                    self._session = AsyncSession(self._manager, self._state.info)
                else:
                    self._session = await self._manager.create(
                        self.agent, user_id=self._state.user_id
                    )
                    self._state.issue(self._session.info)
            return self._session

    async def _resolve(self) -> AsyncSession | None:
        candidate = self._state.pending()
        if candidate is None:
            return self._known()
        try:
            found: AsyncSession | None = await self._manager.get(candidate)
        except SessionNotFound:
            found = None
        return await self._settle(candidate, found)

    def _known(self) -> AsyncSession | None:
        info = self._state.info  # checked or created through the twin handle, or none
        return AsyncSession(self._manager, info) if info is not None else None

    async def _settle(self, candidate: str, found: AsyncSession | None) -> AsyncSession | None:
        """Judge the stored row of ``candidate`` (``found``): the session the
        request may use, if any (claimed and rotated when the rules say so)."""
        verdict = self._state.judge(found.info if found is not None else None)
        if verdict is Verdict.ACCEPT:
            return found
        if verdict is Verdict.CLAIM:
            try:
                claimed = await self._manager.rotate_id(candidate, user_id=self._state.user_id)
            except SessionNotFound:  # claimed by a concurrent request first
                self._state.judge(None)
                return None
            self._state.issue(claimed.info)
            return claimed
        return None

    async def _read(self, op: AsyncReader[T], empty: T) -> T:
        """Run a read that also re-reads the session row (``read_path``,
        ``list_leaves``, ``get_session``). On first use that single round trip
        also checks the request's id: the row it returns is judged before the
        result is handed out, and a refused id gets ``empty`` (or the 404)."""
        session = self._session
        if session is None:
            async with self._lock:
                session = self._session
                if session is None:
                    candidate = self._state.pending()
                    if candidate is None:
                        session = self._session = self._known()
                    else:
                        return await self._probe(candidate, op, empty)
            if session is None:
                return empty
        self._state.touched = True
        return await op(session)

    async def _probe(self, candidate: str, op: AsyncReader[T], empty: T) -> T:
        placeholder = self._state.placeholder(candidate)
        probe = AsyncSession(self._manager, placeholder)
        try:
            result = await op(probe)
            if probe.info is placeholder:  # the op did not re-read the row
                await probe.refresh()
            found: AsyncSession | None = probe
        except SessionNotFound:
            result, found = empty, None
        self._session = await self._settle(candidate, found)
        if self._session is None:
            return empty
        if self._session is not probe:  # claimed: read again under the new id
            return await op(self._session)
        return result

    # -- writing (creates the session) -------------------------------------------

    async def append(
        self, message: Mapping[str, Any], *, expected_head: str | Unchecked | None = UNCHECKED
    ) -> Entry:
        """Append one message (see :meth:`AsyncSession.append`)."""
        return (await self.append_entries(MESSAGE, [message], expected_head))[0]

    async def extend(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> list[Entry]:
        """Append several messages atomically."""
        return await self.append_entries(MESSAGE, list(messages), expected_head)

    async def append_entry(
        self,
        kind: str,
        data: Mapping[str, Any],
        *,
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> Entry:
        """Append an entry of any kind."""
        return (await self.append_entries(kind, [data], expected_head))[0]

    async def append_entries(
        self,
        kind: str,
        items: list[Mapping[str, Any]],
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> list[Entry]:
        """Append ``items`` of one ``kind`` atomically, creating the session first
        if needed (only once the entries are known to be valid)."""
        if await self.get() is None:
            check_first_write(kind, items, expected_head, self._manager.max_entry_bytes)
        session = await self.get_or_create()
        return await session.append_entries(kind, items, expected_head)

    async def update_state(self, values: Mapping[str, Any]) -> Entry:
        """Record state changes as a ``"state"`` entry."""
        return await self.append_entry(STATE, json_patch(values, "state"))

    async def update_metadata(self, values: Mapping[str, Any]) -> None:
        """Shallow-merge ``values`` into the session's metadata."""
        if await self.get() is None:
            json_patch(values, "metadata")  # fail before creating anything
        await (await self.get_or_create()).update_metadata(values)

    async def checkpoint(
        self, name: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Checkpoint:
        """Record the current head (creates the session if needed)."""
        return await (await self.get_or_create()).checkpoint(name, metadata)

    # -- reading (never creates) -------------------------------------------------

    async def messages(self, limit: int | None = None, before: str | None = None) -> list[Entry]:
        """Messages on the current path, oldest first; ``[]`` before the first write."""
        return await self._read(lambda s: s.messages(limit, before), [])

    async def entries(self) -> list[Entry]:
        """Every entry on the current path; ``[]`` before the first write."""
        return await self._read(lambda s: s.entries(), [])

    async def state(self) -> dict[str, Any]:
        """The merged state; ``{}`` before the first write."""
        return await self._read(lambda s: s.state(), {})

    async def refresh(self) -> SessionInfo | None:
        """Re-read the session row; ``None`` before the first write."""
        empty: SessionInfo | None = None
        return await self._read(lambda s: s.refresh(), empty)

    async def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first; ``[]`` before the first write."""
        session = await self.get()
        return await session.checkpoints() if session is not None else []

    async def branches(self) -> list[Branch]:
        """One branch per leaf; ``[]`` before the first write."""
        return await self._read(lambda s: s.branches(), [])

    # -- moving the head (never creates) ---------------------------------------------

    async def restore(self, checkpoint_id: str) -> Checkpoint:
        """Verify and restore a checkpoint (see :meth:`AsyncSession.restore`)."""
        session = await self.get()
        if session is None:
            validate_id(checkpoint_id, "checkpoint id")
            raise CheckpointNotFound("checkpoint not found")
        return await session.restore(checkpoint_id)

    async def switch(self, entry_id: str) -> None:
        """Move the head to any entry of this session."""
        session = await self.get()
        if session is None:
            validate_id(entry_id, "entry id")
            raise InvalidInput("unknown entry id")
        await session.switch(entry_id)

    async def pop(self) -> Entry | None:
        """Step back over the last message and return it (``None`` when empty)."""
        session = await self.get()
        return await session.pop() if session is not None else None

    async def clear(self) -> None:
        """Start afresh in the same session (head = None)."""
        session = await self.get()
        if session is not None:
            await session.clear()

    async def delete(self) -> bool:
        """Erase the session and drop the cookie; the next write starts a new
        one. ``False`` if there was nothing to delete."""
        session = await self.get()
        if session is None:
            return False
        async with self._lock:
            deleted = await self._manager.delete(session.id)
            self._session = None
            self._state.forget()
        return deleted
