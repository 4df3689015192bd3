"""OpenAI Agents SDK sessions on every agentsession store (extra ``openai-agents``).

:class:`OpenAIAgentsSession` satisfies the SDK's ``Session`` protocol, so
``Runner.run(agent, input, session=...)``, ``run_sync`` and ``run_streamed``
keep their history in any agentsession store::

    sessions = AsyncSessionManager("sqlite:///chat.db")
    session = OpenAIAgentsSession("conversation-1", sessions, user_id="alice")
    await Runner.run(agent, "Hello", session=session)

Each SDK item is one message entry, stored as the SDK gave it, so it comes
back equal. ``add_items`` is one atomic write. ``pop_item`` and
``clear_session`` move the head back and keep the old items on a branch, so the
SDK's compaction (``clear_session`` then ``add_items``) loses nothing. The
owner check runs before anything is read: a session owned by someone else
raises ``AccessDenied``. The owner is ``user_id``, or ``user_from(wrapper)``
when the SDK passes its run context. :meth:`OpenAIAgentsSession.agent_session`
returns the session behind it, for checkpoints, branches and expiry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from agentsession import (
    UNCHECKED,
    AsyncSession,
    AsyncSessionManager,
    SessionNotFound,
)
from agentsession.extras import missing_extra

try:
    from agents.memory.session_settings import SessionSettings, resolve_session_limit
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(
        "agentsession.integrations.openai_agents (OpenAI Agents SDK)", "openai-agents"
    ) from exc

if TYPE_CHECKING:
    from agents.items import TResponseInputItem
    from agents.run_context import RunContextWrapper

    from agentsession import Unchecked

__all__ = ["OpenAIAgentsSession"]

T = TypeVar("T")


class OpenAIAgentsSession:
    """An OpenAI Agents SDK ``Session`` backed by an agentsession store.

    Args:
        session_id: the conversation's id (``[A-Za-z0-9_-]{1,128}``); the
            session is created with it on the first write.
        manager: an :class:`~agentsession.AsyncSessionManager`, a store URL,
            or ``None`` for the default store. A manager made here from a URL
            is closed by :meth:`close`; one passed in is left open.
        user_id: the owner. A user id: the session must be that user's (one
            made here is). ``None``: anonymous, only unowned sessions.
            ``UNCHECKED`` (default): trusted code, no owner check.
        user_from: ``user_from(wrapper)`` gives the owner from the SDK's run
            context when the SDK passes one (it then wins over ``user_id``).
            With ``user_from``, a call without a run context is anonymous
            unless ``user_id`` is given.
        agent: the agent name new sessions are created under.
        session_settings: the SDK's settings (``limit`` for ``get_items``).
    """

    def __init__(
        self,
        session_id: str,
        manager: AsyncSessionManager | str | None = None,
        *,
        user_id: str | Unchecked | None = UNCHECKED,
        user_from: Callable[[RunContextWrapper[Any]], str | None] | None = None,
        agent: str = "openai-agents",
        session_settings: SessionSettings | None = None,
    ) -> None:
        self._owns_manager = not isinstance(manager, AsyncSessionManager)
        self.manager = (
            manager if isinstance(manager, AsyncSessionManager) else AsyncSessionManager(manager)
        )
        self.session_id = session_id
        self.session_settings = session_settings
        self._user_id = None if user_from is not None and user_id is UNCHECKED else user_id
        self._user_from = user_from
        self._agent = agent
        # One session object per owner seen: the row is read (and the owner
        # judged) once, not on every call.
        self._found: dict[str | Unchecked | None, AsyncSession] = {}

    def __repr__(self) -> str:
        return f"<OpenAIAgentsSession agent={self._agent!r}>"

    # -- the SDK's Session protocol ---------------------------------------------

    async def get_items(
        self, limit: int | None = None, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> list[TResponseInputItem]:
        """The conversation's items, oldest first; the latest ``limit`` only."""
        limit = resolve_session_limit(limit, self.session_settings)
        entries = await self._if_live(wrapper, lambda s: s.messages(limit=limit))
        return [cast("TResponseInputItem", dict(entry.data)) for entry in entries or ()]

    async def add_items(
        self, items: list[TResponseInputItem], *, wrapper: RunContextWrapper[Any] | None = None
    ) -> None:
        """Append ``items`` in one atomic write (all or none)."""
        if not items:
            return
        data = cast("list[dict[str, Any]]", items)
        await self._written(wrapper, lambda s: s.extend(data))

    async def pop_item(
        self, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> TResponseInputItem | None:
        """Step back over the latest item and return it (it stays on a branch)."""
        entry = await self._if_live(wrapper, lambda s: s.pop())
        return cast("TResponseInputItem", dict(entry.data)) if entry is not None else None

    async def clear_session(self, *, wrapper: RunContextWrapper[Any] | None = None) -> None:
        """Start the conversation afresh; the old one stays reachable as a branch."""
        await self._if_live(wrapper, lambda s: s.clear())

    async def _atomic_replace_items(self, items: list[TResponseInputItem]) -> bool:
        """The SDK's compaction hook (``OpenAIResponsesCompactionSession``): the
        compacted items become the conversation in one write, a new path,
        instead of ``clear_session()`` then ``add_items()``; the old items stay
        on a branch. Always done here, so it returns ``True``."""
        data = cast("list[dict[str, Any]]", items)
        await self._written(None, lambda s: s.replace_messages(data))
        return True

    # -- agentsession ----------------------------------------------------------

    async def agent_session(self, *, wrapper: RunContextWrapper[Any] | None = None) -> AsyncSession:
        """The agentsession session behind this one (created if need be), for
        checkpoints, branches, expiry and the owner's listings."""
        session = await self._session(wrapper, create=True)
        assert session is not None
        return session

    async def close(self) -> None:
        """Close the manager if it was made here from a URL."""
        self._found.clear()
        if self._owns_manager:
            await self.manager.close()

    def _owner(self, wrapper: RunContextWrapper[Any] | None) -> str | Unchecked | None:
        if self._user_from is not None and wrapper is not None:
            return self._user_from(wrapper)
        return self._user_id

    async def _if_live(
        self,
        wrapper: RunContextWrapper[Any] | None,
        call: Callable[[AsyncSession], Awaitable[T]],
    ) -> T | None:
        """``call`` on the session if it exists; ``None`` if it does not, or
        was deleted or expired since it was found (every read and the
        conversation's own edits see a gone session as an empty one)."""
        session = await self._session(wrapper, create=False)
        if session is None:
            return None
        try:
            return await call(session)
        except SessionNotFound:
            self._found.clear()  # found again, or made anew, on the next call
            return None

    async def _written(
        self,
        wrapper: RunContextWrapper[Any] | None,
        call: Callable[[AsyncSession], Awaitable[T]],
    ) -> T:
        """``call`` on the session, created if need be (and made anew if it
        was deleted or expired since it was found)."""
        session = await self._session(wrapper, create=True)
        assert session is not None
        try:
            return await call(session)
        except SessionNotFound:
            self._found.clear()
            session = await self._session(wrapper, create=True)
            assert session is not None
            return await call(session)

    async def _session(
        self, wrapper: RunContextWrapper[Any] | None, *, create: bool
    ) -> AsyncSession | None:
        owner = self._owner(wrapper)
        found = self._found.get(owner)
        if found is not None:
            return found
        if create:
            found = await self.manager.attach(self.session_id, self._agent, user_id=owner)
        else:
            found = await self.manager.find(self.session_id, user_id=owner)
            if found is None:
                return None
        self._found[owner] = found
        return found
