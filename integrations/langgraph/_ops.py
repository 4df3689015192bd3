"""The saver's operations, written once for the sync and the async manager.

Each operation is a generator that yields the calls it makes -- on the
manager (``MGR.find(...)``) or on its store (``STORE.get_entry(...)``) -- and is sent their
results; :func:`drive` runs it on a ``SessionManager``, :func:`adrive` on an
``AsyncSessionManager``. So the sync and async savers cannot drift apart.

The manager's API is used where it can say what is needed (owner checks,
create, find, delete, export, import, list). Three things it cannot say, so
the public store protocol (``agentsession.store``) is called directly:
appending an entry under a *given* id (a checkpoint is found by its id with
one ``get_entry``, as the core finds a turn's marker), reading one entry by
id (``get_entry``), and moving the head to a given parent with a revision
check (``set_head``), since a LangGraph fork hangs a checkpoint under an
older one.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Generator, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar

from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agentsession import (
    UNCHECKED,
    AsyncSessionManager,
    ConflictError,
    InvalidInput,
    SessionInfo,
    SessionManager,
    SessionNotFound,
    Unchecked,
)
from agentsession.store import (
    Entry,
    NewEntry,
    SessionExport,
    expiry_after_write,
    place_entries,
    prepare_entry,
)

from . import _entries as fmt

T = TypeVar("T")
Call = tuple[str, str, tuple[Any, ...], dict[str, Any]]
Op = Generator[Call, Any, T]
Owner = str | Unchecked | None

_ATTEMPTS = 16


class _Calls:
    """``STORE.get_entry(...)`` / ``MGR.get(...)``: the call an op yields, made
    by attribute (no call is named here by a string: adding a store call
    changes nothing in this module)."""

    def __init__(self, target: str) -> None:
        self._target = target

    def __getattr__(self, method: str) -> Callable[..., Call]:
        def call(*args: Any, **kwargs: Any) -> Call:
            return (self._target, method, args, kwargs)

        return call


MGR, STORE = _Calls("manager"), _Calls("store")


def drive(manager: SessionManager, op: Op[T]) -> T:
    """Run ``op`` on a sync manager."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = op.throw(error) if error is not None else op.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        target = manager if call[0] == "manager" else manager.store
        try:
            value, error = getattr(target, call[1])(*call[2], **call[3]), None
        except Exception as exc:
            value, error = None, exc


async def adrive(manager: AsyncSessionManager, op: Op[T]) -> T:
    """Run ``op`` on an async manager."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = op.throw(error) if error is not None else op.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        target = manager if call[0] == "manager" else manager.store
        try:
            value = getattr(target, call[1])(*call[2], **call[3])
            if inspect.isawaitable(value):
                value = await value
            error = None
        except Exception as exc:
            value, error = None, exc


class Taken(ConflictError):
    """The derived id is some other entry's: another writer came first."""


class NotYet(InvalidInput):
    """The checkpoint is not stored yet: LangGraph saves a checkpoint and its
    tasks' writes in the background, so writes can arrive first."""


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """A checkpoint read back: its entry, its holders' entries, its writes."""

    entry: Entry
    holders: dict[str, Entry]
    writes: list[Entry]


# -- finding the session -------------------------------------------------------


def find(thread_id: str, owner: Owner) -> Op[SessionInfo | None]:
    """The thread's session row; ``None`` when unknown or someone else's (the
    same answer, from the same single read)."""
    try:
        session = yield MGR.find(fmt.session_id_for(thread_id), user_id=owner)
    except SessionNotFound:  # AccessDenied: looks exactly like an unknown thread
        return None
    return None if session is None else session.info


def attach(thread_id: str, owner: Owner, agent: str) -> Op[SessionInfo]:
    """The thread's session row, the session created if there is none
    (``AccessDenied`` when it is someone else's)."""
    sid = fmt.session_id_for(thread_id)
    for _ in range(_ATTEMPTS):
        session = yield MGR.find(sid, user_id=owner)
        if session is not None:
            return session.info  # type: ignore[no-any-return]
        try:
            session = yield MGR.create(
                agent,
                user_id=None if owner is UNCHECKED else owner,
                session_id=sid,
                metadata={"langgraph": {"thread_id": thread_id}},
            )
        except ConflictError:  # a concurrent first write, or an expired row
            continue
        return session.info  # type: ignore[no-any-return]
    raise ConflictError("the thread's session kept being taken while creating it")


def _entry(sid: str, entry_id: str, known: dict[str, Entry] | None = None) -> Op[Entry | None]:
    if known is not None and entry_id in known:
        return known[entry_id]
    now = yield MGR.now()
    try:
        return (yield STORE.get_entry(sid, entry_id, now=now))  # type: ignore[no-any-return]
    except InvalidInput:
        return None


#: Entries read with the row: the head, its checkpoint and the writes between.
_RECENT = 4


def _recent(thread_id: str, owner: Owner) -> Op[tuple[SessionInfo, dict[str, Entry]] | None]:
    """The thread's row and the last entries of its head's path, in one read;
    ``None`` when unknown, expired or someone else's (the same answer from
    the same single read). The owner rule is ``get``'s, applied here because
    the row comes with the path (``read_path``) instead of alone."""
    now = yield MGR.now()
    try:
        info, path = yield STORE.read_path(fmt.session_id_for(thread_id), now=now, limit=_RECENT)
    except SessionNotFound:
        return None
    if owner is not UNCHECKED and info.user_id != owner:
        return None
    return info, {e.id: e for e in path}


def _opened(thread_id: str, owner: Owner, agent: str) -> Op[tuple[SessionInfo, dict[str, Entry]]]:
    """:func:`_recent`, the session created when there is none
    (``AccessDenied`` when it is someone else's)."""
    recent = yield from _recent(thread_id, owner)
    if recent is not None:
        return recent
    info = yield from attach(thread_id, owner, agent)
    return info, {}


def _append(
    info: SessionInfo, parent: str | None, new: NewEntry, attempts: int = _ATTEMPTS
) -> Op[SessionInfo]:
    """Append ``new`` under ``parent``: moving the head there first when it is
    elsewhere (a fork); the head then is ``new``. Retried on a race."""
    for _ in range(attempts):
        now = yield MGR.now()
        expires = expiry_after_write(now, info.idle_timeout, info.deadline)
        try:
            if info.head != parent:
                info = yield STORE.set_head(
                    info.id,
                    parent,
                    now=now,
                    expires_at=expires,
                    expected_revision=info.revision,
                )
            info, placed = yield STORE.append(
                info.id, [new], now=now, expires_at=expires, expected_head=parent
            )
            if placed[0].digest != new.digest:
                # The id was taken: a store may answer a write of an id it
                # holds as a replay of that write (the Redis store does).
                raise Taken("an entry with this id is stored already")
        except Taken:
            raise
        except ConflictError:
            info = yield STORE.get_session(info.id, now=now)
            continue
        return info
    raise ConflictError("the thread kept changing while writing to it")


def _prepared(manager_limit: int | None, kind: str, data: dict[str, Any], eid: str) -> Op[NewEntry]:
    now: datetime = yield MGR.now()
    return dataclasses.replace(prepare_entry(kind, data, now, manager_limit), id=eid)


# -- reading -----------------------------------------------------------------


def _writes_of(
    info: SessionInfo, checkpoint_entry: str, known: dict[str, Entry]
) -> Op[list[Entry]]:
    """The checkpoint's writes entries, probed in order; the head ends the
    chain when it is one of them (writes always move the head to the last)."""
    found: list[Entry] = []
    while True:
        entry = yield from _entry(
            info.id, fmt.writes_entry_id(checkpoint_entry, len(found) + 1), known
        )
        if entry is None:
            return found
        found.append(entry)
        if entry.id == info.head:
            return found


def _latest(info: SessionInfo, ns: str, known: dict[str, Entry]) -> Op[Entry | None]:
    """The newest checkpoint of namespace ``ns``: the head's when the head is
    in it (the common case, two reads at most), else the newest among the
    session's leaves (a writes entry stands for its checkpoint)."""
    if info.head is not None:
        entry = yield from _entry(info.id, info.head, known)
        if entry is not None and entry.kind == fmt.WRITES:
            entry = yield from _entry(info.id, entry.data["checkpoint_entry"], known)
        if entry is not None and entry.kind == fmt.CHECKPOINT and entry.data["checkpoint_ns"] == ns:
            return entry
    now = yield MGR.now()
    _, leaves = yield STORE.list_leaves(info.id, now=now)
    best: tuple[str, str] | None = None
    for leaf in leaves:
        if leaf.kind == fmt.WRITES:
            leaf = yield from _entry(info.id, leaf.data["checkpoint_entry"])
        if leaf is None or leaf.kind != fmt.CHECKPOINT or leaf.data["checkpoint_ns"] != ns:
            continue
        if best is None or leaf.data["checkpoint_id"] > best[0]:
            best = (leaf.data["checkpoint_id"], leaf.id)
    if best is None:
        return None
    return (yield from _entry(info.id, best[1]))


def get(thread_id: str, ns: str, checkpoint_id: str | None, owner: Owner) -> Op[Found | None]:
    """One checkpoint (the newest of ``ns`` without an id), with what it needs."""
    recent = yield from _recent(thread_id, owner)
    if recent is None:
        return None
    info, known = recent
    if checkpoint_id is None:
        entry = yield from _latest(info, ns, known)
    else:
        entry = yield from _entry(info.id, fmt.checkpoint_entry_id(ns, checkpoint_id), known)
    if entry is None or entry.kind != fmt.CHECKPOINT:
        return None
    holders: dict[str, Entry] = {}
    for holder_id in sorted(fmt.holders_to_read(entry)):
        holder = yield from _entry(info.id, holder_id, known)
        if holder is not None:
            holders[holder_id] = holder
    writes = yield from _writes_of(info, entry.id, known)
    return Found(entry, holders, writes)


def found_in(export: SessionExport) -> list[Found]:
    """Every checkpoint of an exported thread (I/O-free)."""
    by_id = {e.id: e for e in export.entries}
    writes: dict[str, list[Entry]] = {}
    for entry in export.entries:
        if entry.kind == fmt.WRITES:
            writes.setdefault(entry.data["checkpoint_entry"], []).append(entry)
    found = []
    for entry in export.entries:
        if entry.kind == fmt.CHECKPOINT:
            holders = {h: by_id[h] for h in fmt.holders_to_read(entry) if h in by_id}
            ordered = sorted(writes.get(entry.id, []), key=lambda w: w.depth)
            found.append(Found(entry, holders, ordered))
    return found


def export(thread_id: str, owner: Owner) -> Op[SessionExport | None]:
    info = yield from find(thread_id, owner)
    if info is None:
        return None
    try:
        return (yield MGR.export_session(info.id))  # type: ignore[no-any-return]
    except SessionNotFound:
        return None


def thread_ids(agent: str, owner: Owner) -> Op[list[str]]:
    """Every live thread of this agent name visible to ``owner``."""
    found: list[str] = []
    while True:
        rows = yield MGR.list(agent, user_id=owner, limit=100, offset=len(found))
        found.extend(str(r.metadata.get("langgraph", {}).get("thread_id", r.id)) for r in rows)
        if len(rows) < 100:
            return found


# -- writing -------------------------------------------------------------------


def put(
    serde: SerializerProtocol,
    limit: int | None,
    agent: str,
    *,
    thread_id: str,
    ns: str,
    parent_id: str | None,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    owner: Owner,
) -> Op[None]:
    info, known = yield from _opened(thread_id, owner, agent)
    parent = None
    if parent_id is not None:
        parent = yield from _entry(info.id, fmt.checkpoint_entry_id(ns, parent_id), known)
    data = fmt.checkpoint_data(
        serde,
        checkpoint_ns=ns,
        checkpoint=checkpoint,
        metadata=metadata,
        new_versions=new_versions,
        parent=parent,
        parent_id=parent_id,
    )
    eid = fmt.checkpoint_entry_id(ns, checkpoint["id"])
    new = yield from _prepared(limit, fmt.CHECKPOINT, data, eid)
    with suppress(Taken):  # a checkpoint is written once: the first put stays
        yield from _append(info, None if parent is None else parent.id, new)


def put_writes(
    serde: SerializerProtocol,
    limit: int | None,
    agent: str,
    *,
    thread_id: str,
    ns: str,
    checkpoint_id: str,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    owner: Owner,
) -> Op[None]:
    """One writes entry at the end of the checkpoint's chain. Its id is the
    chain's next number, so a race for it starts over from the reads (the
    compare-and-swap refuses the loser before it writes)."""
    target = fmt.checkpoint_entry_id(ns, checkpoint_id)
    for attempt in range(_ATTEMPTS):
        info, known = yield from _opened(thread_id, owner, agent)
        if (yield from _entry(info.id, target, known)) is None:
            raise NotYet("put_writes for a checkpoint that is not stored (yet)")
        # Right after its put the head is the checkpoint, with no writes yet
        # (a wrong first guess is caught by the read back below).
        guess = attempt == 0 and info.head == target
        stored = [] if guess else (yield from _writes_of(info, target, known))
        data = fmt.writes_data(
            serde,
            checkpoint_entry=target,
            writes=writes,
            task_id=task_id,
            task_path=task_path,
            stored=stored,
        )
        if data is None:
            return
        parent = stored[-1].id if stored else target
        number = len(stored) + 1
        new = yield from _prepared(limit, fmt.WRITES, data, fmt.writes_entry_id(target, number))
        head = info.head
        try:
            info = yield from _append(info, parent, new, attempts=1)
        except ConflictError:  # Taken too: read again, take the next number
            continue
        # Read back: a store that answers a write of an id it holds as a
        # replay (Redis) reports success when a concurrent writer (another
        # process) took this number first; the bytes then are not ours.
        stored_now = yield from _entry(info.id, new.id)
        if stored_now is None or stored_now.digest != new.digest:
            continue
        if head != target and head not in {w.id for w in stored}:
            # Writes to an older checkpoint: the head goes back where it was,
            # so it keeps naming the newest checkpoint (unless moved since).
            now = yield MGR.now()
            expires = expiry_after_write(now, info.idle_timeout, info.deadline)
            with suppress(ConflictError):
                yield STORE.set_head(
                    info.id,
                    head,
                    now=now,
                    expires_at=expires,
                    expected_revision=info.revision,
                )
        return
    raise ConflictError("the thread kept changing while writing to it")


def delete(thread_id: str) -> Op[None]:
    yield MGR.delete(fmt.session_id_for(thread_id))


def copy(source: str, target: str) -> Op[None]:
    """The source thread's session, whole, under the target thread's id."""
    exported = yield from export(source, UNCHECKED)
    if exported is None:
        return
    session = dataclasses.replace(
        exported.session,
        id=fmt.session_id_for(target),
        metadata={**exported.session.metadata, "langgraph": {"thread_id": target}},
    )
    yield MGR.import_session(dataclasses.replace(exported, session=session))


def keep_latest(limit: int | None, thread_id: str) -> Op[None]:
    """Keep only the newest checkpoint of each namespace (with its writes)."""
    exported = yield from export(thread_id, UNCHECKED)
    if exported is None:
        return
    newest: dict[str, Entry] = {}
    for entry in exported.entries:
        if entry.kind == fmt.CHECKPOINT:
            known = newest.get(entry.data["checkpoint_ns"])
            if known is None or entry.data["checkpoint_id"] > known.data["checkpoint_id"]:
                newest[entry.data["checkpoint_ns"]] = entry
    yield from _rewrite(exported, {e.id for e in newest.values()}, limit)


def delete_runs(
    serde: SerializerProtocol, limit: int | None, agent: str, run_ids: Sequence[str]
) -> Op[None]:
    """Erase the checkpoints (and their writes) of these runs, in every thread."""
    runs = set(run_ids)
    if not runs:
        return
    for thread_id in (yield from thread_ids(agent, UNCHECKED)):
        exported = yield from export(thread_id, UNCHECKED)
        if exported is None:
            continue
        points = [e for e in exported.entries if e.kind == fmt.CHECKPOINT]
        doomed = {e.id for e in points if fmt.metadata_of(serde, e).get("run_id") in runs}
        if doomed:
            yield from _rewrite(exported, {e.id for e in points} - doomed, limit)


def _rewrite(exported: SessionExport, keep: set[str], limit: int | None) -> Op[None]:
    """Replace the thread's session by one holding only the checkpoints in
    ``keep`` (and their writes and the entries below them): each hangs under
    its nearest kept ancestor and takes in the values it found in erased
    ones. Entries are append-only, so this writes the session anew, in one
    atomic replacement at the revision exported (a write since makes it
    fail with ``ConflictError``; nothing is lost)."""
    now = yield MGR.now()
    by_id = {e.id: e for e in exported.entries}
    gone = {e.id: e for e in exported.entries if e.kind == fmt.CHECKPOINT and e.id not in keep}
    placed: dict[str, Entry] = {}
    for entry in exported.entries:  # parents first
        if entry.id in gone:
            continue
        parent = entry.parent_id
        while parent is not None and parent not in placed:
            parent = by_id[parent].parent_id if parent in by_id else None
        data = dict(entry.data)
        if entry.kind == fmt.CHECKPOINT:
            data = fmt.inline_values(entry, gone)
        elif entry.kind == fmt.WRITES and entry.data["checkpoint_entry"] in gone:
            continue
        new = prepare_entry(entry.kind, data, now, limit)
        new = dataclasses.replace(new, id=entry.id, created_at=entry.created_at)
        above = placed.get(parent) if parent is not None else None
        [placed[entry.id]] = place_entries(
            [new],
            parent_id=None if above is None else above.id,
            parent_depth=0 if above is None else above.depth,
            message_count=0 if above is None else above.message_index,
            max_messages=None,
            parent_checksum=None if above is None else above.checksum,
        )
    revision = exported.session.revision
    if not placed:
        yield STORE.delete_session(exported.session.id, expected_revision=revision)
        return
    head = exported.session.head
    while head is not None and head not in placed:
        head = by_id[head].parent_id if head in by_id else None
    if head is None:
        points = [e for e in placed.values() if e.kind == fmt.CHECKPOINT]
        head = max(points, key=lambda e: e.data["checkpoint_id"]).id if points else None
    session = dataclasses.replace(
        exported.session,
        head=head,
        message_count=0 if head is None else placed[head].message_index,
        revision=revision + 1,
    )
    replacement = SessionExport(session, tuple(placed.values()), ())
    yield MGR.import_session(replacement, expected_revision=revision)
