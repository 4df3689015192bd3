"""LangChain chat message history on every agentsession store (extra ``langchain``).

:class:`AgentSessionChatMessageHistory` is a ``BaseChatMessageHistory``, so
``RunnableWithMessageHistory`` keeps its history in any agentsession store::

    sessions = AsyncSessionManager("sqlite:///chat.db")
    chain = RunnableWithMessageHistory(
        model, lambda sid: AgentSessionChatMessageHistory(sid, sessions, user_id="alice")
    )

Each message is one entry: ``{"role", "content", "langchain": message_to_dict(m)}``,
written with LangChain's own serialisation (no pickle), so it comes back equal
and other agentsession readers still see a chat message. ``add_messages`` is
one atomic write; ``clear`` moves the head back and keeps the old messages on a
branch. The async methods (``aget_messages``, ``aadd_messages``, ``aclear``)
await an :class:`~agentsession.AsyncSessionManager` directly, with no executor
hop; the sync ones need a :class:`~agentsession.SessionManager`. Given a URL,
the history opens whichever of the two a call needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    """The history of one conversation, named by the application.

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
    """

    def __init__(
        self,
        session_id: str,
        manager: SessionManager | AsyncSessionManager | str,
        *,
        user_id: str | Unchecked | None = UNCHECKED,
        agent: str = "langchain",
    ) -> None:
        self.session_id = session_id
        self._url = manager if isinstance(manager, str) else None
        self._sync = manager if isinstance(manager, SessionManager) else None
        self._async = manager if isinstance(manager, AsyncSessionManager) else None
        self._user_id = user_id
        self._agent = agent

    # -- sync ------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The conversation's messages, oldest first."""
        session = self._sync_session(create=False)
        if session is None:
            return []
        try:
            return [from_message_data(e.data) for e in session.messages()]
        except SessionNotFound:
            return []

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one atomic write."""
        data = [to_message_data(m) for m in messages]
        if data:
            session = self._sync_session(create=True)
            assert session is not None
            session.extend(data)

    def clear(self) -> None:
        """Start afresh; the old messages stay reachable as a branch."""
        session = self._sync_session(create=False)
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
        session = await self._async_session(create=False)
        if session is None:
            return []
        try:
            return [from_message_data(e.data) for e in await session.messages()]
        except SessionNotFound:
            return []

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """:meth:`add_messages`, awaited natively."""
        data = [to_message_data(m) for m in messages]
        if data:
            session = await self._async_session(create=True)
            assert session is not None
            await session.extend(data)

    async def aclear(self) -> None:
        """:meth:`clear`, awaited natively."""
        session = await self._async_session(create=False)
        if session is not None:
            await session.clear()

    async def aclose(self) -> None:
        """Close the managers opened from a URL."""
        self.close()
        if self._url is not None and self._async is not None:
            await self._async.close()
            self._async = None

    # -- finding the session ---------------------------------------------------

    def _sync_session(self, *, create: bool) -> Session | None:
        if self._sync is None:
            if self._url is None:
                raise TypeError("sync calls need a SessionManager (or a store URL)")
            self._sync = SessionManager(self._url)
        manager = self._sync
        if create:
            return manager.attach(self.session_id, self._agent, user_id=self._user_id)
        return manager.find(self.session_id, user_id=self._user_id)

    async def _async_session(self, *, create: bool) -> AsyncSession | None:
        if self._async is None:
            if self._url is None:
                raise TypeError("async calls need an AsyncSessionManager (or a store URL)")
            self._async = AsyncSessionManager(self._url)
        manager = self._async
        if create:
            return await manager.attach(self.session_id, self._agent, user_id=self._user_id)
        return await manager.find(self.session_id, user_id=self._user_id)
