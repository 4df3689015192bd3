"""``AsyncSession``: one conversation, bound to its store.

The object holds a snapshot of the session row (``info``) for its properties;
every operation reads or writes the store, so nothing another process changed
is hidden from an operation -- only the properties can be stale until
:meth:`refresh` or the next operation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from contextlib import aclosing, suppress
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Unpack

from .._audit import Auditor, audited, of_session
from .._canonical import canonical_json, chain_checksum, chained_form
from .._context import peek_session, use_session
from .._exceptions import (
    AgentSessionError,
    ConflictError,
    IntegrityError,
    InvalidInput,
    NoSessionInContext,
    StoreClosed,
)
from .._ids import new_id, validate_id
from .._models import (
    MESSAGE,
    STATE,
    UNCHECKED,
    Branch,
    Checkpoint,
    Entry,
    NewEntry,
    SearchHit,
    SessionInfo,
    Unchecked,
)
from .._offload import async_prepare
from .._rules import (
    branches_of,
    check_batch,
    check_checkpoint_name,
    check_expected_head,
    expiry_after_write,
    json_patch,
    merge_state,
    no_checkpoint,
    no_entry,
    no_items,
    no_state,
    nothing,
    prepare_entry,
    reads,
    verify_path,
)
from .._turns import (
    AGENT_STATE,
    ERROR,
    TURN,
    Checkpointable,
    MemoryAware,
    OnConflict,
    Turn,
    TurnOptions,
    async_chunks,
    check_on_conflict,
    chunk_messages,
    error_data,
    input_messages,
    invoke,
    turn_marker,
)
from .._windows import TokenCounter, approx_tokens
from .turn_stream import AsyncTurnStream

if TYPE_CHECKING:
    from .manager import AsyncSessionManager

__all__ = ["AsyncMemoryReader", "AsyncSession"]

_POP_ATTEMPTS = 16
_TURN_ATTEMPTS = 16
#: Entries a checkpoint reads first, looking for the last one it knows of.
_FIRST_PAGE = 64
#: Beyond this many messages, a checkpoint looks for the store's checkpoints
#: on its path (one more call, and pages) rather than read it all at once.
_LONG_PATH = 1024
#: A token window reads messages in pages of 16, 32, ... up to 1 024.
_WINDOW_PAGE = 16
_WINDOW_PAGE_MAX = 1024


def _newest_in(path: list[Entry], bases: Mapping[str, str]) -> int | None:
    """The index of the last entry of ``path`` that ``bases`` has, if any."""
    for i in range(len(path) - 1, -1, -1):
        if path[i].id in bases:
            return i
    return None


class AsyncSession:
    """A conversation: an append-only tree of entries with a movable head.

    Get one from :class:`AsyncSessionManager` (``create``, ``get``,
    ``get_or_create``); do not construct it directly.

    Calls marked ``@reads(...)`` only read or move the head, and say what they
    return on a session that does not exist yet; every other call writes. The
    web layer's lazy handle takes its methods from this class by those marks.
    """

    def __init__(self, manager: AsyncSessionManager, info: SessionInfo) -> None:
        self._manager = manager
        self._store = manager.store
        self._info = info
        self._closed = False
        self._auditor: Auditor | None = manager._auditor

    def __repr__(self) -> str:
        # The id is a bearer token in web apps: keep it out of reprs and logs.
        return f"<AsyncSession agent={self._info.agent!r} messages={self._info.message_count}>"

    # -- snapshot properties -------------------------------------------------

    @property
    def info(self) -> SessionInfo:
        """The row as last read or written by this object."""
        return self._info

    @property
    def id(self) -> str:
        """The session id (a bearer token: never log it)."""
        return self._info.id

    @property
    def agent(self) -> str:
        """The agent name the session belongs to."""
        return self._info.agent

    @property
    def user_id(self) -> str | None:
        """The owner, or ``None`` for an anonymous session."""
        return self._info.user_id

    @property
    def created_at(self) -> datetime:
        """When the session was created (aware UTC)."""
        return self._info.created_at

    @property
    def updated_at(self) -> datetime:
        """When it was last written (aware UTC)."""
        return self._info.updated_at

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the session's metadata."""
        return dict(self._info.metadata)

    @property
    def head(self) -> str | None:
        """The id of the current leaf entry, ``None`` when empty."""
        return self._info.head

    @property
    def message_count(self) -> int:
        """Messages on the current path (root to head)."""
        return self._info.message_count

    @property
    def revision(self) -> int:
        """+1 on every write: what compare-and-swap calls compare."""
        return self._info.revision

    @property
    def expires_at(self) -> datetime | None:
        """When the session stops being found, ``None`` = never."""
        return self._info.expires_at

    # -- helpers -------------------------------------------------------------

    def _now(self) -> datetime:
        if self._closed:
            raise StoreClosed("the session object is closed")
        return self._manager.now()

    def _expiry(self, now: datetime) -> datetime | None:
        return expiry_after_write(now, self._info.idle_timeout, self._info.deadline)

    # -- writing -------------------------------------------------------------

    @audited("append", of_session)
    async def append(
        self, message: Mapping[str, Any], *, expected_head: str | Unchecked | None = UNCHECKED
    ) -> Entry:
        """Append one message under the head as it is at write time.

        Args:
            message: a JSON object, e.g. ``{"role": "user", "content": "hi"}``.
            expected_head: compare-and-swap: fail with ``ConflictError`` unless
                the head is still this id (``None`` = still empty).
        """
        return (await self.append_entries(MESSAGE, [message], expected_head))[0]

    @audited("extend", of_session)
    async def extend(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> list[Entry]:
        """Append several messages atomically (all or none)."""
        return await self.append_entries(MESSAGE, list(messages), expected_head)

    @audited("append_entry", of_session)
    async def append_entry(
        self,
        kind: str,
        data: Mapping[str, Any],
        *,
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> Entry:
        """Append an entry of any kind (``"message"``, ``"state"`` or your own)."""
        return (await self.append_entries(kind, [data], expected_head))[0]

    @audited("append_entries", of_session)
    async def append_entries(
        self,
        kind: str,
        items: list[Mapping[str, Any]],
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> list[Entry]:
        """Append ``items`` of one ``kind`` atomically; the primitive of the above."""
        return await self._append(kind, items, expected_head, new_root=False)

    async def _append(
        self,
        kind: str,
        items: list[Mapping[str, Any]],
        expected_head: str | Unchecked | None,
        *,
        new_root: bool,
    ) -> list[Entry]:
        now = self._now()
        if expected_head is not UNCHECKED and expected_head is not None:
            validate_id(expected_head, "expected_head")
        if not isinstance(items, list):
            raise InvalidInput("messages must be an iterable of JSON objects")
        check_batch(len(items), self._manager.max_batch)
        prepared = await async_prepare(kind, items, now, self._manager.max_entry_bytes)
        if not prepared:
            return []
        self._info, entries = await self._store.append(
            self.id,
            prepared,
            now=now,
            expires_at=self._expiry(now),
            expected_head=expected_head,
            new_root=new_root,
        )
        await self._auto_checkpoint(now)
        return entries

    async def _auto_checkpoint(self, now: datetime, agent: object = None) -> None:
        every = self._manager.checkpoint_every
        if every is not None:
            last = self._info.last_checkpoint_at or self._info.created_at
            if now - last >= every:
                await self.checkpoint(
                    name="auto", agent=agent if isinstance(agent, Checkpointable) else None
                )

    @audited("update_state", of_session)
    async def update_state(self, values: Mapping[str, Any]) -> Entry:
        """Record state changes as a ``"state"`` entry (merged over earlier ones)."""
        return await self.append_entry(STATE, json_patch(values, "state"))

    @audited("update_metadata", of_session)
    async def update_metadata(self, values: Mapping[str, Any]) -> None:
        """Shallow-merge ``values`` into the session's metadata."""
        limit = self._manager.max_metadata_bytes
        patch = json_patch(values, "metadata", limit)
        # The merge happens in the store; checked here on the row as last
        # seen, so small patches cannot grow the metadata without bound.
        json_patch({**self._info.metadata, **patch}, "metadata", limit)
        now = self._now()
        self._info = await self._store.update_session(
            self.id, metadata=patch, now=now, expires_at=self._expiry(now)
        )

    # -- reading -------------------------------------------------------------

    @reads(no_items)
    async def messages(
        self,
        limit: int | None = None,
        before: str | None = None,
        *,
        max_tokens: int | None = None,
        count: TokenCounter | None = None,
    ) -> list[Entry]:
        """Messages on the current path, oldest first.

        Args:
            limit: only the last ``limit`` messages.
            before: page backwards: messages strictly before this entry on
                its path.
            max_tokens: only the newest messages whose costs add up to at
                most this (a token window; nothing if the newest alone costs
                more). Read a page at a time from the newest, so it costs the
                window, not the history.
            count: a message's cost (its data -> tokens); by default
                :func:`agentsession.approx_tokens`.
        """
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise InvalidInput("limit must be a non-negative integer")
        if before is not None:
            validate_id(before, "entry id")
        if limit is None and self._manager.on_limit == "window":
            limit = self._manager.max_messages  # docs/design.md, "Semantics"
        if max_tokens is not None:
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
                raise InvalidInput("max_tokens must be a non-negative integer")
            return await self._window(max_tokens, count or approx_tokens, limit, before)
        now = self._now()
        self._info, path = await self._store.read_path(
            self.id, now=now, before=before, limit=limit, kind=MESSAGE
        )
        return path

    async def _window(
        self, budget: int, count: TokenCounter, limit: int | None, before: str | None
    ) -> list[Entry]:
        """The newest messages (at most ``limit``) within ``budget`` tokens,
        read in pages of 16, 32, ... from the newest."""
        taken: list[Entry] = []
        page, used = _WINDOW_PAGE, 0
        while limit is None or len(taken) < limit:
            want = page if limit is None else min(page, limit - len(taken))
            self._info, chunk = await self._store.read_path(
                self.id, now=self._now(), before=before, limit=want, kind=MESSAGE
            )
            for entry in reversed(chunk):
                used += count(entry.data)
                if used > budget:
                    taken.reverse()
                    return taken
                taken.append(entry)
            if len(chunk) < want:
                break
            before, page = chunk[0].id, min(page * 2, _WINDOW_PAGE_MAX)
        taken.reverse()
        return taken

    @reads(no_items)
    async def entries(self) -> list[Entry]:
        """Every entry (all kinds) on the current path, oldest first."""
        self._info, path = await self._store.read_path(self.id, now=self._now())
        return path

    @reads(no_state)
    async def state(self) -> dict[str, Any]:
        """The merge of the ``"state"`` entries on the current path."""
        self._info, path = await self._store.read_path(self.id, now=self._now(), kind=STATE)
        return merge_state(path)

    @reads(nothing)
    async def refresh(self) -> SessionInfo:
        """Re-read the session row (``SessionNotFound`` once gone or expired)."""
        self._info = await self._store.get_session(self.id, now=self._now())
        return self._info

    # -- checkpoints and branches --------------------------------------------

    @audited("checkpoint", of_session)
    async def checkpoint(
        self,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        agent: Checkpointable | None = None,
    ) -> Checkpoint:
        """Record the current head (no entry is added, the head does not move).

        ``agent``: a :class:`Checkpointable` agent whose ``create_checkpoint()``
        is kept in the checkpoint's metadata (key ``"agent_state"``).
        """
        check_checkpoint_name(name)
        limit = self._manager.max_metadata_bytes
        meta = json_patch(metadata or {}, "checkpoint metadata", limit)
        if agent is not None:
            if AGENT_STATE in meta:
                raise InvalidInput(f"checkpoint metadata key {AGENT_STATE!r} is the agent's")
            state = _checkpointable(agent).create_checkpoint()
            meta = json_patch({**meta, AGENT_STATE: state}, "checkpoint metadata", limit)
        now = self._now()
        info, point_checksum = await self._head_checksum(now)
        point = Checkpoint(
            id=new_id(),
            session_id=self.id,
            entry_id=info.head,
            created_at=now,
            name=name,
            metadata=meta,
            checksum=point_checksum,
        )
        self._info = await self._store.save_checkpoint(point, now=now, expires_at=self._expiry(now))
        self._manager._remember_point(point)
        return point

    async def _head_checksum(self, now: datetime) -> tuple[SessionInfo, str]:
        """The row, and the chained checksum of the path to its head.

        It goes on from the nearest earlier checkpoint on the path (the one
        this manager took or verified last, else the newest the store keeps
        there), hashing only the entries below it: pages read upwards from
        the head, growing, until one holds that checkpoint's entry. With no
        chained checkpoint on the path, the whole path is hashed.

        First, though, the head alone: a store that keeps each entry's path
        checksum (``Entry.checksum``) has the answer there, whatever the
        history."""
        info, head = await self._store.read_path(self.id, now=now, limit=1, with_data=False)
        if not head:
            return info, chain_checksum(())
        if head[-1].checksum is not None and chained_form(head[-1].checksum):
            return info, head[-1].checksum
        hint = self._manager._point_hint(self.id)
        bases = dict([hint]) if hint is not None else {}
        known = self._info
        long = known.last_checkpoint_at is not None and known.message_count > _LONG_PATH
        if not bases and not long:  # nothing to go on from: the path, in one read
            info, path = await self._store.read_path(self.id, now=now, with_data=False)
            return info, chain_checksum(e.digest for e in path)
        info, path = await self._store.read_path(
            self.id, now=now, limit=_FIRST_PAGE, with_data=False
        )
        found = _newest_in(path, bases)
        complete = len(path) < _FIRST_PAGE  # the root is in: nothing above
        limit: int | None = _FIRST_PAGE
        if found is None and not complete:
            if long:
                bases = {**await self._stored_bases(now), **bases}
                found = _newest_in(path, bases)
            else:  # a short path: the rest in one read costs less than pages
                bases = {}
        while found is None and not complete and limit is not None:
            limit = limit * 4 if bases else None
            _, page = await self._store.read_path(
                self.id, now=now, before=path[0].id, limit=limit, with_data=False
            )
            complete = limit is None or len(page) < limit
            found = _newest_in(page, bases)
            path = [*page, *path]
        if found is None:
            return info, chain_checksum(e.digest for e in path)
        return info, chain_checksum([e.digest for e in path[found + 1 :]], bases[path[found].id])

    async def _stored_bases(self, now: datetime) -> dict[str, str]:
        """entry id -> chained checksum of the session's stored checkpoints,
        the newest one for an entry kept twice."""
        points = await self._store.list_checkpoints(self.id, now=now)
        return {p.entry_id: p.checksum for p in points if p.entry_id and chained_form(p.checksum)}

    @reads(no_items)
    async def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint of the session, oldest first."""
        return await self._store.list_checkpoints(self.id, now=self._now())

    @reads(no_checkpoint)
    @audited("restore", of_session)
    async def restore(
        self, checkpoint_id: str, *, agent: Checkpointable | None = None
    ) -> Checkpoint:
        """Verify the checkpoint's path (digests and checksum), then move the head
        there. Nothing is deleted: the abandoned branch stays switchable.

        ``agent``: a :class:`Checkpointable` agent handed the state the
        checkpoint keeps (``restore_from_checkpoint``) before the head moves;
        the state is also in the returned checkpoint's metadata.

        Raises:
            CheckpointNotFound: no such checkpoint in this session.
            IntegrityError: stored history no longer matches the checkpoint.
            InvalidInput: ``agent`` given, but the checkpoint keeps no agent state.
        """
        validate_id(checkpoint_id, "checkpoint id")
        target = _checkpointable(agent) if agent is not None else None
        now = self._now()
        point, path = await self._store.get_checkpoint(
            self.id, checkpoint_id, now=now, with_path=True
        )
        verify_path(path, point.entry_id, point.checksum)
        self._manager._remember_point(point)
        if target is not None:
            state = point.metadata.get(AGENT_STATE)
            if not isinstance(state, Mapping):
                raise InvalidInput("the checkpoint keeps no agent state")
            target.restore_from_checkpoint(dict(state))
        self._info = await self._store.set_head(
            self.id, point.entry_id, now=now, expires_at=self._expiry(now)
        )
        return point

    @reads(no_items)
    async def branches(self) -> list[Branch]:
        """One :class:`Branch` per leaf of the tree, newest first."""
        self._info, leaves = await self._store.list_leaves(self.id, now=self._now())
        return branches_of(leaves, self._info.head)

    @reads(no_entry)
    @audited("switch", of_session)
    async def switch(self, entry_id: str) -> None:
        """Move the head to any entry of this session (``InvalidInput`` if unknown)."""
        validate_id(entry_id, "entry id")
        now = self._now()
        self._info = await self._store.set_head(
            self.id, entry_id, now=now, expires_at=self._expiry(now)
        )

    @reads(nothing)
    @audited("pop", of_session)
    async def pop(self) -> Entry | None:
        """Step the head back to the parent of the last message and return that
        message (``None`` when there is none). Non-destructive."""
        for _ in range(_POP_ATTEMPTS):
            now = self._now()
            info, last = await self._store.read_path(self.id, now=now, limit=1, kind=MESSAGE)
            self._info = info
            if not last:
                return None
            try:
                self._info = await self._store.set_head(
                    self.id,
                    last[0].parent_id,
                    now=now,
                    expires_at=self._expiry(now),
                    expected_revision=info.revision,
                )
            except ConflictError:
                continue
            return last[0]
        raise ConflictError("the session kept changing while popping")

    @reads(nothing)
    @audited("clear", of_session)
    async def clear(self) -> None:
        """Start afresh: head = None. Earlier branches stay until ``delete``."""
        now = self._now()
        self._info = await self._store.set_head(
            self.id, None, now=now, expires_at=self._expiry(now)
        )

    @audited("replace_messages", of_session)
    async def replace_messages(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        expected_head: str | Unchecked | None = UNCHECKED,
    ) -> list[Entry]:
        """Make ``messages`` the conversation, in one write: a new path holding
        them (an append from a new root), the head moved to its end. Nothing
        is removed: the old path stays a branch. ``expected_head`` makes it a
        compare-and-swap (``ConflictError``, nothing written). No messages:
        the head moves to ``None``, as :meth:`clear`."""
        items = list(messages)
        if items:
            return await self._append(MESSAGE, items, expected_head, new_root=True)
        now = self._now()
        revision = None
        if expected_head is not UNCHECKED:
            self._info = await self._store.get_session(self.id, now=now)
            check_expected_head(self._info.head, expected_head)
            revision = self._info.revision
        self._info = await self._store.set_head(
            self.id, None, now=now, expires_at=self._expiry(now), expected_revision=revision
        )
        return []

    @audited("compact", of_session)
    async def compact(self, summary: str | Mapping[str, Any], *, upto: str) -> Entry:
        """Replace the conversation up to ``upto`` with ``summary``, in one write.

        The new path is a message holding the summary (``summary`` as the
        message's data, or as a ``"system"`` message's content when text),
        marked ``"compaction"`` with what it covers; then the state as of
        ``upto``, if any; then copies of the entries after ``upto``. The head
        moves to its end, so ``messages()`` (and a token window) read the
        compacted conversation. Nothing is removed: the original path stays a
        branch of its own, which earlier checkpoints restore and ``switch``
        reaches. If another write moved the head since the path was read,
        ``ConflictError`` and nothing is written.

        Returns the summary's entry.
        """
        now = self._now()
        validate_id(upto, "entry id")
        if isinstance(summary, str):
            data: dict[str, Any] = {"role": "system", "content": summary}
        elif isinstance(summary, Mapping):
            data = dict(summary)
        else:
            raise InvalidInput("summary must be text or a message (a JSON object)")
        self._info, path = await self._store.read_path(self.id, now=now)
        cut = next((i + 1 for i, e in enumerate(path) if e.id == upto), None)
        if cut is None:
            raise InvalidInput("upto is not an entry of the current path")
        covered, kept = path[:cut], path[cut:]
        data["compaction"] = {
            "upto": upto,
            "entries": len(covered),
            "messages": sum(e.is_message for e in covered),
            "from_head": self._info.head,
        }
        limit = self._manager.max_entry_bytes
        new = [prepare_entry(MESSAGE, data, now, limit)]
        state = merge_state(covered)
        if state:
            new.append(prepare_entry(STATE, state, now, limit))
        new += [prepare_entry(e.kind, e.data, now, limit) for e in kept]
        check_batch(len(new), self._manager.max_batch)
        self._info, placed = await self._store.append(
            self.id,
            new,
            now=now,
            expires_at=self._expiry(now),
            expected_head=self._info.head,
            new_root=True,
        )
        return placed[0]

    # -- turns: an agent called with this session --------------------------------

    async def run(self, agent: object, input: object, **options: Unpack[TurnOptions]) -> Turn:
        """Call ``agent`` on ``input`` with this session, and record the turn.

        ``agent`` is a callable ``agent(input, session)`` or a
        :class:`SessionAware` object; sync or async; it may return its output
        (a str, a message dict, or a list of them) or yield it in chunks (see
        :meth:`stream`). While it runs, this session is
        :func:`~agentsession.current_session`. The input and every output are
        committed by one store write under the head the turn started from;
        ``options`` (:class:`TurnOptions`): ``turn_id``, ``on_conflict``,
        ``record_errors``.

        Returns:
            The :class:`Turn`: its input and output entries.
        """
        stream = await self.stream(agent, input, **options)
        async for _ in stream:
            pass
        return stream.turn

    async def stream(
        self, agent: object, input: object, **options: Unpack[TurnOptions]
    ) -> AsyncTurnStream:
        """:meth:`run`, handing the agent's chunks to the caller as they come.

        Iterate the returned stream; the turn is committed when the agent
        finishes, and is then ``stream.turn``. A stream abandoned before its
        end (closed, broken out of, cancelled) writes nothing. Text chunks
        (str) are recorded joined into one assistant message; dict chunks as
        messages. The input is checked here, before anything runs.
        """
        call = invoke(agent)
        if isinstance(agent, MemoryAware):
            agent.set_memory(_READER)
        on_conflict = check_on_conflict(options.get("on_conflict", "raise"))
        turn_id = options.get("turn_id")
        if turn_id is not None:
            turn_marker(turn_id)  # checks the key
        record_errors = bool(options.get("record_errors", False))
        now = self._now()
        inputs = await async_prepare(
            MESSAGE, input_messages(input), now, self._manager.max_entry_bytes
        )
        return AsyncTurnStream(
            lambda done: self._turn(
                done, agent, call, input, inputs, turn_id, on_conflict, record_errors
            )
        )

    async def _turn(
        self,
        done: Callable[[Turn], None],
        agent: object,
        call: Callable[[Any, Any], Any],
        input: object,
        inputs: list[NewEntry],
        turn_id: str | None,
        on_conflict: OnConflict,
        record_errors: bool,
    ) -> AsyncGenerator[object, None]:
        now = self._now()
        self._info = await self._store.get_session(self.id, now=now)
        start = self._info.head
        stored = await self._stored_turn(turn_id, inputs, now)
        if stored is not None:
            for entry in stored.output:
                yield dict(entry.data)
            done(stored)
            return
        chunks: list[object] = []
        try:
            with use_session(self):
                result = call(input, self)
            async with aclosing(async_chunks(result, self)) as produced:
                async for chunk in produced:
                    chunks.append(chunk)
                    yield chunk
            outputs = chunk_messages(chunks)
        except Exception as exc:
            if record_errors:
                # Best effort: the caller gets the agent's error, never one from
                # recording it (a conflict, a store gone away) in its place.
                with suppress(AgentSessionError):
                    failed = await async_prepare(ERROR, [error_data(exc)], self._now(), None)
                    await self._commit(start, inputs, failed, None, on_conflict, None)
            raise
        new = await async_prepare(MESSAGE, outputs, self._now(), self._manager.max_entry_bytes)
        if turn_id is not None:
            data = {"turn_id": turn_id, "entries": len(inputs) + len(new), "inputs": len(inputs)}
            (mark,) = await async_prepare(TURN, [data], self._now(), None)
            mark.id = turn_marker(turn_id)
            new.append(mark)
        done(await self._commit(start, inputs, new, turn_id, on_conflict, agent))

    @audited("turn", of_session)
    async def _commit(
        self,
        start: str | None,
        inputs: list[NewEntry],
        outputs: list[NewEntry],
        turn_id: str | None,
        on_conflict: OnConflict,
        agent: object,
    ) -> Turn:
        expected = start
        for _ in range(_TURN_ATTEMPTS):
            now = self._now()
            try:
                self._info, entries = await self._store.append(
                    self.id,
                    [*inputs, *outputs],
                    now=now,
                    expires_at=self._expiry(now),
                    expected_head=expected,
                )
            except ConflictError:
                stored = await self._stored_turn(turn_id, inputs, now)
                if stored is not None:
                    return stored  # a twin of this retried turn won the race
                if on_conflict == "raise":
                    raise
                expected = (await self.refresh()).head
                continue
            await self._auto_checkpoint(now, agent)
            end = len(entries) - (turn_id is not None)
            return Turn(self.id, turn_id, entries[: len(inputs)], entries[len(inputs) : end])
        raise ConflictError("the session kept changing while recording the turn")

    async def _stored_turn(
        self, turn_id: str | None, inputs: list[NewEntry], now: datetime
    ) -> Turn | None:
        """The turn with this ``turn_id``, if it is stored; checked against ``inputs``."""
        if turn_id is None:
            return None
        marker = turn_marker(turn_id)
        try:
            mark = await self._store.get_entry(self.id, marker, now=now)
        except InvalidInput:
            return None
        size, count = mark.data.get("entries"), mark.data.get("inputs")
        if (
            mark.kind != TURN
            or mark.data.get("turn_id") != turn_id
            or not isinstance(size, int)
            or not isinstance(count, int)
        ):
            raise IntegrityError("the turn's marker entry is malformed")
        _, path = await self._store.read_path(self.id, now=now, before=marker, limit=size)
        # Compared by content, not digest: a sealed store's digests cover the
        # sealed records (docs/design.md, "Encryption and compression").
        stored = [(e.kind, canonical_json(dict(e.data))) for e in path[:count]]
        if stored != [(i.kind, i.data_json) for i in inputs]:
            raise ConflictError("this turn_id was used for a different input")
        return Turn(self.id, turn_id, path[:count], path[count:], replayed=True)

    # -- lifecycle -------------------------------------------------------------

    @reads(nothing)
    async def close(self) -> None:
        """Stop using this object (the store stays open; the session stays stored)."""
        self._closed = True

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncMemoryReader:
    """Search the past conversations of the user whose turn is running.

    What a :class:`~agentsession.MemoryAware` agent is handed. It holds no
    user: each search reads the session of the turn it runs in
    (:func:`~agentsession.current_session`), so one agent object serving
    many users at once searches each turn's own user's sessions only.
    """

    async def search(self, query: str, limit: int = 5) -> list[SearchHit]:
        """The user's messages holding every word of ``query``, best first
        (``AsyncSessionManager.search`` with the session's owner). A turn
        in an anonymous session finds nothing: anonymous sessions share no
        owner.

        Raises:
            NoSessionInContext: called outside a turn.
            TypeError: the turn's session is not an ``AsyncSession``.
        """
        session = peek_session()
        if session is None:
            raise NoSessionInContext("a memory reader searches during a turn only")
        if not isinstance(session, AsyncSession):
            raise TypeError(f"{type(self).__name__} needs an AsyncSession's turn")
        if session.user_id is None:
            return []
        return await session._manager.search(query, user_id=session.user_id, limit=limit)


_READER: Final = AsyncMemoryReader()


def _checkpointable(agent: object) -> Checkpointable:
    if not isinstance(agent, Checkpointable):
        raise TypeError(
            f"{type(agent).__name__} is not Checkpointable: it needs create_checkpoint()"
            " and restore_from_checkpoint(state)"
        )
    return agent
