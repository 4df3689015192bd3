"""Pydantic AI conversations on every agentsession store (extra ``pydantic-ai``).

:func:`run_with_session` loads a session's history as ``list[ModelMessage]``,
runs a Pydantic AI agent on it, and records the run's ``new_messages()`` as
one atomic turn of the agentsession runtime (see ``docs/design.md``,
"Turns"): a run that raises or is cancelled writes nothing, a concurrent run
on the same session raises ``ConflictError`` (or, with
``on_conflict="append"``, lands after it), and a ``turn_id`` makes a retried
run return the stored one::

    async with AsyncSessionManager("sqlite:///chat.db") as sessions:
        session = await sessions.attach("conversation-1", "support")
        run = await run_with_session(agent, "Hello", session)
        print(run.output)

Messages go through ``ModelMessagesTypeAdapter`` (JSON mode, no pickle):
``{"role", "content", "pydantic_ai": <the dumped message>}``, so other
agentsession readers still see a chat message and plain messages read back
by role. :func:`run_sync_with_session` is the twin for a sync session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Unpack

from agentsession import AsyncSession, Session, Turn, TurnOptions
from agentsession.extras import missing_extra

try:
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelMessagesTypeAdapter,
        ModelRequest,
        ModelResponse,
        SystemPromptPart,
        TextPart,
        UserPromptPart,
    )
    from pydantic_ai.run import AgentRunResult
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra(
        "agentsession.integrations.pydantic_ai (Pydantic AI)", "pydantic-ai"
    ) from exc

__all__ = [
    "RecordedRun",
    "from_message_data",
    "load_messages",
    "run_sync_with_session",
    "run_with_session",
    "to_message_data",
]


def to_message_data(message: ModelMessage) -> dict[str, Any]:
    """A Pydantic AI message as agentsession message data."""
    text: list[object]
    if isinstance(message, ModelResponse):
        role, text = "assistant", [p.content for p in message.parts if isinstance(p, TextPart)]
    else:
        role = "user"
        kinds = UserPromptPart | SystemPromptPart
        text = [p.content for p in message.parts if isinstance(p, kinds)]
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
    return [from_message_data(e.data) for e in await session.messages()]


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
        history = [from_message_data(e.data) for e in s.messages()]
        result = agent.run_sync(prompt, message_history=history, **dict(run_options or {}))
        results.append(result)
        return [to_message_data(m) for m in result.new_messages()]

    return _recorded(session.run(call, [], **options), results)


def _recorded(turn: Turn, results: list[AgentRunResult[Any]]) -> RecordedRun:
    messages = [from_message_data(e.data) for e in turn.output]
    return RecordedRun(turn, messages, None if turn.replayed else results[-1])
