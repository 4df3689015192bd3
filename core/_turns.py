"""The agent runtime's I/O-free parts: agent shapes, turn records, chunks.

A *turn* is one call of an agent: its input messages and its outputs,
committed by one store write (see ``docs/design.md``, "Turns"). This module
says what an agent may be and return, turns inputs and outputs into message
data, and names a turn's marker entry; the session objects do the I/O.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypedDict, runtime_checkable

from ._context import use_session
from ._exceptions import InvalidInput
from ._ids import validate_text
from ._models import MESSAGE, Entry, Unchecked

if TYPE_CHECKING:
    from ._context import AnySession

__all__ = [
    "AGENT_STATE",
    "ERROR",
    "TURN",
    "CallOptions",
    "Checkpointable",
    "MemoryAware",
    "OnConflict",
    "SessionAware",
    "Turn",
    "TurnOptions",
    "agent_name",
    "async_chunks",
    "check_on_conflict",
    "chunk_messages",
    "error_data",
    "input_messages",
    "invoke",
    "sync_chunks",
    "turn_marker",
    "turn_options",
]

#: Entry kinds the runtime writes besides messages.
TURN = "turn"
ERROR = "error"
#: The checkpoint metadata key holding a :class:`Checkpointable` agent's state.
AGENT_STATE = "agent_state"

OnConflict: TypeAlias = Literal["raise", "append"]


class TurnOptions(TypedDict, total=False):
    """How a turn is recorded (``run``, ``stream``, ``call_with_session``).

    ``turn_id``: an idempotency key. A retry with the same key returns the
    stored turn (``replayed=True``) without calling the agent; the same key
    with another input raises ``ConflictError``.

    ``on_conflict``: ``"raise"`` (default): a turn recorded meanwhile by
    someone else raises ``ConflictError``, nothing written; ``"append"``:
    write this turn after it.

    ``record_errors``: when the agent raises, record the input and an
    ``"error"`` entry, then re-raise. Default ``False``: write nothing, so a
    retry starts clean (a cancelled turn never writes).
    """

    turn_id: str | None
    on_conflict: OnConflict
    record_errors: bool


class CallOptions(TurnOptions, total=False):
    """:class:`TurnOptions`, and which session ``call_with_session`` uses.

    ``session_id``: that session, under the owner rules of ``get``
    (``AccessDenied`` before anything runs). Without it, a new session,
    owned by ``user_id`` when that is a user, named ``agent_name`` (default:
    the agent's ``name`` or function/class name).
    """

    session_id: str | None
    user_id: str | Unchecked | None
    agent_name: str | None


@runtime_checkable
class SessionAware(Protocol):
    """An agent object that takes its session: ``execute_with_session(input,
    session)``, sync or async, returning or yielding its outputs."""

    def execute_with_session(self, input: Any, session: Any) -> Any:
        """Run one turn with ``session`` (sync or async): return or yield the output."""
        ...


@runtime_checkable
class MemoryAware(Protocol):
    """An agent object that searches its user's past conversations.

    Before each of its turns it is handed ``set_memory(reader)``: a
    :class:`~agentsession.MemoryReader` (an ``AsyncMemoryReader`` for an
    async session) whose ``search(query, limit=5)`` finds messages in the
    sessions of the user whose turn is running, and only theirs.
    """

    def set_memory(self, reader: Any) -> None:
        """Keep ``reader`` to search with during turns."""
        ...


@runtime_checkable
class Checkpointable(Protocol):
    """An agent whose own state goes into checkpoints (``s.checkpoint(agent=a)``)
    and comes back on ``s.restore(cp_id, agent=a)``. The state is a JSON object."""

    def create_checkpoint(self) -> Mapping[str, Any]:
        """The agent's state to keep in a checkpoint (a JSON object)."""
        ...

    def restore_from_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Take back the state a checkpoint kept."""
        ...


@dataclass(frozen=True, slots=True)
class Turn:
    """One committed turn: its input and output entries, in path order.

    ``replayed`` is true when a retried ``turn_id`` found the turn stored and
    the agent was not called again.
    """

    session_id: str
    turn_id: str | None
    input: list[Entry]
    output: list[Entry]
    replayed: bool = False

    @property
    def entries(self) -> list[Entry]:
        """The turn's input and output entries, in order."""
        return [*self.input, *self.output]

    @property
    def reply(self) -> str | None:
        """The text of the last assistant message among the outputs, if any."""
        for entry in reversed(self.output):
            content = entry.data.get("content")
            if entry.kind == MESSAGE and entry.data.get("role") == "assistant":
                return content if isinstance(content, str) else None
        return None


def turn_options(options: CallOptions) -> TurnOptions:
    """The :class:`TurnOptions` among ``options``."""
    return TurnOptions(
        turn_id=options.get("turn_id"),
        on_conflict=options.get("on_conflict", "raise"),
        record_errors=options.get("record_errors", False),
    )


def check_on_conflict(value: object) -> OnConflict:
    if value not in ("raise", "append"):
        raise InvalidInput('on_conflict must be "raise" or "append"')
    return value


def invoke(agent: object) -> Callable[[Any, Any], Any]:
    """What to call for ``agent``: its ``execute_with_session`` or itself."""
    if isinstance(agent, SessionAware):
        return agent.execute_with_session
    if callable(agent):
        return agent
    raise TypeError(
        f"{type(agent).__name__} is not an agent: pass a callable agent(input, session)"
        " or an object with execute_with_session(input, session)"
    )


_NAME_JUNK = re.compile(r"[^A-Za-z0-9_-]+")


def agent_name(agent: object) -> str:
    """A session agent name for ``agent``: its ``name``, else its function or
    class name, reduced to ``[A-Za-z0-9_-]``."""
    name = getattr(agent, "name", None)
    if not isinstance(name, str) or not name:
        name = getattr(agent, "__name__", None) or type(agent).__name__
    cleaned = _NAME_JUNK.sub("-", str(name)).strip("-")[:128]
    return cleaned or "agent"


def _message(value: object, role: str, what: str) -> Mapping[str, Any]:
    if isinstance(value, str):
        return {"role": role, "content": value}
    if isinstance(value, Mapping):
        return value
    raise InvalidInput(
        f"{what} must be a str, a message dict or a list of them, not {type(value).__name__}"
    )


def input_messages(value: object) -> list[Mapping[str, Any]]:
    """A turn's input as messages: a str is one user message, a dict one
    message, a list several (e.g. a framework's input items)."""
    if isinstance(value, list | tuple):
        return [_message(item, "user", "the input") for item in value]
    return [_message(value, "user", "the input")]


def chunk_messages(chunks: Sequence[object]) -> list[Mapping[str, Any]]:
    """The messages an agent produced: a str chunk is text, joined with the
    text chunks next to it into one assistant message; a dict is a message;
    a list or tuple is several chunks; ``None`` is nothing."""
    messages: list[Mapping[str, Any]] = []
    text: list[str] = []
    for chunk in _flat(chunks):
        if isinstance(chunk, str):
            text.append(chunk)
            continue
        if text:
            messages.append({"role": "assistant", "content": "".join(text)})
            text = []
        messages.append(_message(chunk, "assistant", "an agent's output"))
    if text:
        messages.append({"role": "assistant", "content": "".join(text)})
    return messages


def _flat(chunks: Sequence[object]) -> Iterator[object]:
    for chunk in chunks:
        if chunk is None:
            continue
        if isinstance(chunk, list | tuple):
            yield from _flat(chunk)
        else:
            yield chunk


def error_data(exc: BaseException) -> dict[str, Any]:
    """The data of the ``"error"`` entry an opted-in failed turn records."""
    return {"type": type(exc).__name__, "message": str(exc)[:2000]}


def turn_marker(turn_id: str) -> str:
    """The id of the marker entry that closes the turn with this ``turn_id``.

    Derived from the key, so a retry finds its turn with one ``get_entry``
    (ids are unique within a session, not across sessions).
    """
    validate_text(turn_id, "turn_id", 256, minimum=1)
    return "turn-" + hashlib.sha256(turn_id.encode()).hexdigest()[:48]


def _is_stream(value: object) -> bool:
    return inspect.isgenerator(value) or (
        isinstance(value, Iterator) and not isinstance(value, str | bytes | Mapping)
    )


async def async_chunks(result: object, session: AnySession) -> AsyncGenerator[object, None]:
    """The chunks of an agent call's ``result`` (awaited, iterated, or one
    value), running the agent's code with ``session`` current."""
    if inspect.isawaitable(result):
        with use_session(session):
            result = await result
    if isinstance(result, AsyncIterator):
        try:
            while True:
                with use_session(session):
                    try:
                        chunk = await anext(result)
                    except StopAsyncIteration:
                        return
                yield chunk
        finally:
            close = getattr(result, "aclose", None)
            if close is not None:
                await close()
    else:
        for chunk in sync_chunks(result, session):
            yield chunk


def sync_chunks(result: object, session: AnySession) -> Generator[object, None, None]:
    """:func:`async_chunks` for a sync session: an awaitable is refused."""
    if inspect.isawaitable(result) or isinstance(result, AsyncIterator):
        close = getattr(result, "close", None) or getattr(result, "aclose", None)
        if inspect.iscoroutine(result) and close is not None:
            close()  # no "never awaited" warning
        raise TypeError("an async agent needs an AsyncSession (AsyncSessionManager)")
    if not _is_stream(result):
        yield result
        return
    assert isinstance(result, Iterator)
    try:
        while True:
            with use_session(session):
                try:
                    chunk = next(result)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
