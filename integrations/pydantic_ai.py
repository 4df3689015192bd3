"""Pydantic AI conversations on every agentsession store (extra ``pydantic-ai``).

:class:`PydanticAIHistory` loads a session's history as ``list[ModelMessage]``
and remembers the head it read; :meth:`~PydanticAIHistory.record` writes a
run's ``new_messages()`` as one ``extend`` under that head, so a concurrent run
on the same session raises ``ConflictError`` and writes nothing (load again and
rerun). :func:`run_with_history` does both around ``agent.run``::

    async with AsyncSessionManager("sqlite:///chat.db") as sessions:
        session = await sessions.attach("conversation-1", "support")
        result = await run_with_history(agent, "Hello", session)
        print(result.output)

:func:`run_with_session` records the run as a turn of the agentsession runtime
instead (``docs/design.md``, "Turns": ``turn_id`` replays, ``on_conflict``).
:class:`SyncPydanticAIHistory`, :func:`run_sync_with_history` and
:func:`run_sync_with_session` are the twins for a sync
:class:`~agentsession.Session` (``agent.run_sync``).

Messages go through ``ModelMessagesTypeAdapter`` (JSON mode, no pickle), one
entry each: ``{"role", "content", "pydantic_ai": <the dumped message>}``, so
other agentsession readers still see a chat message and plain messages read
back by role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, Unpack

from agentsession import AsyncSession, Entry, Session, Turn, TurnOptions
from agentsession.extras import missing_extra

try:
    from pydantic_ai import Agent
    from pydantic_ai.agent import AbstractAgent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelMessagesTypeAdapter,
        ModelRequest,
        ModelResponse,
        SystemPromptPart,
        TextPart,
        UserContent,
        UserPromptPart,
    )
    from pydantic_ai.run import AgentRunResult
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(
        "agentsession.integrations.pydantic_ai (Pydantic AI)", "pydantic-ai"
    ) from exc

__all__ = [
    "PydanticAIHistory",
    "RecordedRun",
    "SyncPydanticAIHistory",
    "from_message_data",
    "load_messages",
    "run_sync_with_history",
    "run_sync_with_session",
    "run_with_history",
    "run_with_session",
    "to_message_data",
]

_OutputT = TypeVar("_OutputT")


class _Run(Protocol):
    """What :meth:`PydanticAIHistory.record` takes: ``AgentRunResult``,
    ``StreamedRunResult``, ``StreamedRunResultSync``."""

    def new_messages(self) -> list[ModelMessage]: ...


def to_message_data(message: ModelMessage) -> dict[str, Any]:
    """A Pydantic AI message as agentsession message data; ``content`` is the
    text of its user prompts (a request) or text parts (a response), when
    there is such text."""
    text: list[object]
    if isinstance(message, ModelResponse):
        role, text = "assistant", [p.content for p in message.parts if isinstance(p, TextPart)]
    else:
        role = "user"
        text = [p.content for p in message.parts if isinstance(p, UserPromptPart)]
    data: dict[str, Any] = {
        "role": role,
        "pydantic_ai": ModelMessagesTypeAdapter.dump_python([message], mode="json")[0],
    }
    if text and all(isinstance(t, str) for t in text):
        data["content"] = "\n".join(str(t) for t in text)
    return data


def from_message_data(data: Mapping[str, Any]) -> ModelMessage:
    """agentsession message data as a Pydantic AI message: exact when written
    by :func:`to_message_data`, by role and text otherwise."""
    stored = data.get("pydantic_ai")
    if isinstance(stored, Mapping):
        return ModelMessagesTypeAdapter.validate_python([dict(stored)])[0]
    content = data.get("content")
    text = content if isinstance(content, str) else ""
    role = data.get("role")
    if role == "assistant":
        return ModelResponse(parts=[TextPart(content=text)])
    if role == "system":
        return ModelRequest(parts=[SystemPromptPart(content=text)])
    return ModelRequest(parts=[UserPromptPart(content=text)])


def _from_entries(entries: Sequence[Entry]) -> list[ModelMessage]:
    return [from_message_data(e.data) for e in entries]


# -- a history loaded at a head, recorded to under it --------------------------------


class _LoadedHead:
    """The head a history was loaded at (moved to what each record wrote)."""

    def __init__(self) -> None:
        self._loaded = False
        self._head: str | None = None

    @property
    def head(self) -> str | None:
        """The entry the next record must follow: the head :meth:`load` read,
        or the last entry recorded since (``None``: an empty session)."""
        if not self._loaded:
            raise RuntimeError("the history is not loaded yet: call load() first")
        return self._head

    def _loaded_at(self, head: str | None) -> None:
        self._loaded, self._head = True, head

    def _batch(self, messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
        if not self._loaded:
            raise RuntimeError(
                "record needs the head the run's history was loaded at: call load() first"
            )
        return [to_message_data(m) for m in messages]


class PydanticAIHistory(_LoadedHead):
    """A Pydantic AI message history kept in an :class:`~agentsession.AsyncSession`.

    :meth:`load` before the run, :meth:`record` after it: the run's new
    messages are written in one atomic ``extend`` that fails with
    ``ConflictError`` (writing nothing) unless the session's head is still the
    one :meth:`load` read. A record moves the head it expects to what it wrote,
    so one loaded history can record several runs in a row.
    """

    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self.session = session

    async def load(self) -> list[ModelMessage]:
        """The session's messages on its current path; remembers the head."""
        messages = _from_entries(await self.session.messages())
        self._loaded_at(self.session.head)
        return messages

    async def record(self, result: _Run) -> list[Entry]:
        """Write ``result.new_messages()`` (see :meth:`record_messages`)."""
        return await self.record_messages(result.new_messages())

    async def record_messages(self, messages: Sequence[ModelMessage]) -> list[Entry]:
        """Write ``messages`` atomically after the loaded head; the entries
        written. ``ConflictError`` if the session moved since: nothing written."""
        data = self._batch(messages)
        if not data:
            return []
        entries = await self.session.extend(data, expected_head=self.head)
        self._loaded_at(self.session.head)
        return entries


class SyncPydanticAIHistory(_LoadedHead):
    """:class:`PydanticAIHistory` for a sync :class:`~agentsession.Session`."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def load(self) -> list[ModelMessage]:
        """:meth:`PydanticAIHistory.load`."""
        messages = _from_entries(self.session.messages())
        self._loaded_at(self.session.head)
        return messages

    def record(self, result: _Run) -> list[Entry]:
        """:meth:`PydanticAIHistory.record`."""
        return self.record_messages(result.new_messages())

    def record_messages(self, messages: Sequence[ModelMessage]) -> list[Entry]:
        """:meth:`PydanticAIHistory.record_messages`."""
        data = self._batch(messages)
        if not data:
            return []
        entries = self.session.extend(data, expected_head=self.head)
        self._loaded_at(self.session.head)
        return entries


async def run_with_history(
    agent: AbstractAgent[Any, _OutputT],
    prompt: str | Sequence[UserContent] | None,
    session: AsyncSession,
    **run_kwargs: Any,
) -> AgentRunResult[_OutputT]:
    """Load the session's history, ``agent.run(prompt, message_history=...,
    **run_kwargs)``, and record the run's new messages atomically under the
    head loaded: a run that raises writes nothing, and a concurrent run on the
    session makes this one raise ``ConflictError`` after running (nothing
    written: call again to rerun it on the new history)."""
    history = PydanticAIHistory(session)
    result: AgentRunResult[_OutputT]
    result = await agent.run(prompt, message_history=await history.load(), **run_kwargs)
    await history.record(result)
    return result


def run_sync_with_history(
    agent: AbstractAgent[Any, _OutputT],
    prompt: str | Sequence[UserContent] | None,
    session: Session,
    **run_kwargs: Any,
) -> AgentRunResult[_OutputT]:
    """:func:`run_with_history` for a sync :class:`~agentsession.Session`
    (``agent.run_sync``)."""
    history = SyncPydanticAIHistory(session)
    result: AgentRunResult[_OutputT]
    result = agent.run_sync(prompt, message_history=history.load(), **run_kwargs)
    history.record(result)
    return result


# -- a run recorded as a turn of the agentsession runtime ---------------------------


@dataclass(frozen=True)
class RecordedRun:
    """A run recorded as a turn: the turn, its messages, and the agent's
    result (``None`` when a retried ``turn_id`` replayed the stored turn)."""

    turn: Turn
    new_messages: list[ModelMessage]
    result: AgentRunResult[Any] | None

    @property
    def output(self) -> Any:
        """The run's output; for a replayed turn, the last response's text."""
        if self.result is not None:
            return self.result.output
        for message in reversed(self.new_messages):
            if isinstance(message, ModelResponse):
                return message.text
        return None


async def load_messages(session: AsyncSession) -> list[ModelMessage]:
    """The session's messages on its current path, as Pydantic AI messages."""
    return _from_entries(await session.messages())


async def run_with_session(
    agent: Agent[Any, Any],
    prompt: str,
    session: AsyncSession,
    *,
    run_options: Mapping[str, Any] | None = None,
    **options: Unpack[TurnOptions],
) -> RecordedRun:
    """Run ``agent`` on ``prompt`` with the session's history, and record the
    run's new messages as one turn. ``run_options`` go to ``agent.run``;
    ``options`` are the turn's (``turn_id``, ``on_conflict``, ``record_errors``)."""
    results: list[AgentRunResult[Any]] = []

    async def call(_: object, s: AsyncSession) -> list[dict[str, Any]]:
        history = await load_messages(s)
        result = await agent.run(prompt, message_history=history, **dict(run_options or {}))
        results.append(result)
        return [to_message_data(m) for m in result.new_messages()]

    # The prompt is part of the run's new messages: the turn has no input of its own.
    turn = await session.run(call, [], **options)
    return _recorded(turn, results)


def run_sync_with_session(
    agent: Agent[Any, Any],
    prompt: str,
    session: Session,
    *,
    run_options: Mapping[str, Any] | None = None,
    **options: Unpack[TurnOptions],
) -> RecordedRun:
    """:func:`run_with_session` for a sync :class:`~agentsession.Session`
    (``agent.run_sync``)."""
    results: list[AgentRunResult[Any]] = []

    def call(_: object, s: Session) -> list[dict[str, Any]]:
        history = _from_entries(s.messages())
        result = agent.run_sync(prompt, message_history=history, **dict(run_options or {}))
        results.append(result)
        return [to_message_data(m) for m in result.new_messages()]

    return _recorded(session.run(call, [], **options), results)


def _recorded(turn: Turn, results: list[AgentRunResult[Any]]) -> RecordedRun:
    messages = _from_entries(turn.output)
    return RecordedRun(turn, messages, None if turn.replayed else results[-1])
