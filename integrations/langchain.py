"""LangChain chat message history on every agentsession store (extra ``langchain``).

:class:`AgentSessionChatMessageHistory` is a ``BaseChatMessageHistory`` over
an agentsession session, so ``RunnableWithMessageHistory`` keeps its history in
any agentsession store. Give it the session itself, or a conversation id and a
manager (the session is then found, or created on the first write)::

    history = AgentSessionChatMessageHistory(session=sessions.attach("c-1", "bot"))
    chain = RunnableWithMessageHistory(
        model, lambda sid: AgentSessionChatMessageHistory(sid, sessions, user_id="alice")
    )

Each message is one entry: ``{"role", "content", "langchain": message_to_dict(m)}``,
written with LangChain's own serialisation (no pickle), so it comes back equal
and other agentsession readers still see a chat message. ``add_messages`` is
one atomic write; ``clear`` moves the head back and keeps the old messages on a
branch. The async methods (``aget_messages``, ``aadd_messages``, ``aclear``)
await an :class:`~agentsession.AsyncSession` (or ``AsyncSessionManager``)
directly, with no executor hop; the sync ones need a
:class:`~agentsession.Session` (or ``SessionManager``). Given a URL, the
history opens whichever manager a call needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

from agentsession import (
    UNCHECKED,
    AsyncSession,
    AsyncSessionManager,
    Session,
    SessionManager,
    SessionNotFound,
    Unchecked,
)
from agentsession.extras import missing_extra

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        message_to_dict,
        messages_from_dict,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.langchain (LangChain)", "langchain") from exc

__all__ = ["AgentSessionChatMessageHistory", "from_message_data", "to_message_data"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_message_data(message: BaseMessage) -> dict[str, Any]:
    """A LangChain message as agentsession message data."""
    data: dict[str, Any] = {
        "role": _ROLES.get(message.type, message.type),
        "langchain": message_to_dict(message),
    }
    if isinstance(message.content, str):
        data["content"] = message.content
    return data


def from_message_data(data: Mapping[str, Any]) -> BaseMessage:
    """agentsession message data as a LangChain message: exact when it was
    written by :func:`to_message_data`, by role and content otherwise."""
    stored = data.get("langchain")
    if isinstance(stored, Mapping):
        return messages_from_dict([dict(stored)])[0]
    role, content = data.get("role"), data.get("content", "")
    text = content if isinstance(content, str | list) else str(content)
    if role == "user":
        return HumanMessage(content=text)
    if role == "assistant":
        return AIMessage(content=text)
    if role == "system":
        return SystemMessage(content=text)
    if role == "tool":
        return ToolMessage(content=text, tool_call_id=str(data.get("tool_call_id", "")))
    return ChatMessage(content=text, role=str(role))


class AgentSessionChatMessageHistory(BaseChatMessageHistory):
    """The history of one conversation: an agentsession session.

    Give either the session (``session=`` for the sync methods,
    ``async_session=`` for the async ones, or both, the same session), or a
    conversation id and a manager:

    Args:
        session_id: the conversation's id (``[A-Za-z0-9_-]{1,128}``); created
            with it on the first write.
        manager: a :class:`~agentsession.SessionManager` (sync calls), an
            :class:`~agentsession.AsyncSessionManager` (async calls), or a
            store URL (both, each opened on first use and closed by
            :meth:`close` / :meth:`aclose`).
        user_id: the owner, under the rules of ``get``: ``UNCHECKED``
            (default) for trusted code; a user id; ``None`` for anonymous.
        agent: the agent name new sessions are created under.
        session: an open :class:`~agentsession.Session` (a web request's
            session too), used as is: no owner check, and ``SessionNotFound``
            once it is deleted or expired.
        async_session: an open :class:`~agentsession.AsyncSession`, likewise.

    Calling a method of the kind (sync or async) that was not given raises
    ``TypeError``, naming what to pass.
    """

    @overload
    def __init__(
        self,
        session_id: str,
        manager: SessionManager | AsyncSessionManager | str,
        *,
        user_id: str | Unchecked | None = UNCHECKED,
        agent: str = "langchain",
    ) -> None: ...

    @overload
    def __init__(self, *, session: Session, async_session: AsyncSession | None = None) -> None: ...

    @overload
    def __init__(self, *, async_session: AsyncSession) -> None: ...

    def __init__(
        self,
        session_id: str | None = None,
        manager: SessionManager | AsyncSessionManager | str | None = None,
        *,
        user_id: str | Unchecked | None = UNCHECKED,
        agent: str = "langchain",
        session: Session | None = None,
        async_session: AsyncSession | None = None,
    ) -> None:
        given = session is not None or async_session is not None
        if given == (session_id is not None or manager is not None):
            raise TypeError(
                "AgentSessionChatMessageHistory needs session= and/or async_session=,"
                " or a session_id and a manager (not both)"
            )
        if given:
            ids = {s.id for s in (session, async_session) if s is not None and s.id is not None}
            if len(ids) > 1:
                raise ValueError("session and async_session must be the same session")
        elif session_id is None or manager is None:
            raise TypeError("AgentSessionChatMessageHistory needs a session_id and a manager")
        self._given = given
        self._given_sync, self._given_async = session, async_session
        self._session_id = session_id
        self._url = manager if isinstance(manager, str) else None
        self._sync = manager if isinstance(manager, SessionManager) else None
        self._async = manager if isinstance(manager, AsyncSessionManager) else None
        self._user_id = user_id
        self._agent = agent

    @property
    def session_id(self) -> str | None:
        """The conversation's id (``None`` for a web session not created yet)."""
        if self._session_id is not None:
            return self._session_id
        given = self._given_sync if self._given_sync is not None else self._given_async
        return given.id if given is not None else None

    # -- sync ------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The conversation's messages, oldest first."""
        session = self._open_sync(create=False)
        if session is None:
            return []
        try:
            return [from_message_data(e.data) for e in session.messages()]
        except SessionNotFound:
            if self._given:
                raise
            return []

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one atomic write (all or none)."""
        data = [to_message_data(m) for m in messages]
        if data:
            session = self._open_sync(create=True)
            assert session is not None
            session.extend(data)

    def clear(self) -> None:
        """Start afresh. Not destructive: the head moves back to the start and
        the old messages stay in the session, reachable as a branch
        (``session.branches()``, ``session.switch(...)``) until it is deleted."""
        session = self._open_sync(create=False)
        if session is not None:
            session.clear()

    def close(self) -> None:
        """Close the sync manager opened from a URL."""
        if self._url is not None and self._sync is not None:
            self._sync.close()
            self._sync = None

    # -- async -----------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        """:attr:`messages`, awaited natively."""
        session = await self._open_async(create=False)
        if session is None:
            return []
        try:
            return [from_message_data(e.data) for e in await session.messages()]
        except SessionNotFound:
            if self._given:
                raise
            return []

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """:meth:`add_messages`, awaited natively."""
        data = [to_message_data(m) for m in messages]
        if data:
            session = await self._open_async(create=True)
            assert session is not None
            await session.extend(data)

    async def aclear(self) -> None:
        """:meth:`clear` (non-destructive too), awaited natively."""
        session = await self._open_async(create=False)
        if session is not None:
            await session.clear()

    async def aclose(self) -> None:
        """Close the managers opened from a URL."""
        self.close()
        if self._url is not None and self._async is not None:
            await self._async.close()
            self._async = None

    # -- finding the session ---------------------------------------------------

    def _open_sync(self, *, create: bool) -> Session | None:
        if self._given:
            if self._given_sync is None:
                raise TypeError(
                    "sync calls (messages, add_messages, clear) need a sync session: pass"
                    " session=<agentsession.Session>, or use aget_messages/aadd_messages/aclear"
                )
            return self._given_sync
        if self._sync is None:
            if self._url is None:
                raise TypeError(
                    "sync calls (messages, add_messages, clear) need a SessionManager"
                    " (or a store URL), not an AsyncSessionManager"
                )
            self._sync = SessionManager(self._url)
        assert self._session_id is not None
        if create:
            return self._sync.attach(self._session_id, self._agent, user_id=self._user_id)
        return self._sync.find(self._session_id, user_id=self._user_id)

    async def _open_async(self, *, create: bool) -> AsyncSession | None:
        if self._given:
            if self._given_async is None:
                raise TypeError(
                    "async calls (aget_messages, aadd_messages, aclear) need an async session:"
                    " pass async_session=<agentsession.AsyncSession>, or use the sync methods"
                )
            return self._given_async
        if self._async is None:
            if self._url is None:
                raise TypeError(
                    "async calls (aget_messages, aadd_messages, aclear) need an"
                    " AsyncSessionManager (or a store URL), not a SessionManager"
                )
            self._async = AsyncSessionManager(self._url)
        assert self._session_id is not None
        if create:
            return await self._async.attach(self._session_id, self._agent, user_id=self._user_id)
        return await self._async.find(self._session_id, user_id=self._user_id)
