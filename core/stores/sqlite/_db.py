"""One SQLite database file: named by a URL, opened lazily, migrated forward.

:class:`Database` owns the store's connection. The first call opens it:
missing parent directories are created 0700 and a new database file 0600
(SQLite gives its ``-wal`` and ``-shm`` files the same mode), the journal
is switched to WAL, and pending migrations run in one ``BEGIN IMMEDIATE``
transaction -- so two processes opening a fresh file at once apply them
exactly once. A process that inherits an open connection through ``fork``
opens its own instead of sharing it.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from agentsession._async.bridge import GROUP, QUICK
from agentsession._exceptions import (
    IntegrityError,
    InvalidInput,
    StoreUnavailable,
    map_exceptions,
)
from agentsession._registry import url_switch
from agentsession._search import message_text
from agentsession.stores._blocking import Outcome, WouldBlock
from agentsession.stores.sqlite._schema import (
    CLEAR_QUEUE,
    CREATE_SCHEMA_TABLE,
    CREATE_SEARCH,
    DEQUEUE,
    DROP_SEARCH,
    INDEX_EVERY,
    INDEX_QUEUED,
    MIGRATIONS,
    QUEUE_EMPTY,
    QUEUE_END,
    RECORD_MIGRATION,
    SCHEMA_VERSION,
    SCHEMA_VERSION_SQL,
    SEARCH_EXISTS,
    SYNCHRONOUS_LEVELS,
    load_object,
    search_scope,
)

__all__ = ["Database", "index_queued", "is_quick", "migrate", "parse_sqlite_url", "transaction"]

P = ParamSpec("P")
T = TypeVar("T")

_DRIVER_ERRORS: dict[type[BaseException], type[StoreUnavailable]] = {
    sqlite3.Error: StoreUnavailable,
    OSError: StoreUnavailable,
}
_MEMORY = ":memory:"
_INHERITED: list[sqlite3.Connection] = []
_SQLITE_BUSY = 5  # the primary result code of every "database is locked"
# When the store runs WAL checkpoints itself, it aims at SQLite's own
# default, one per 1 000 WAL frames (pages). It can only count changed rows,
# and the pages a row costs vary (a group commit writes the shared pages
# once for many appends), so the interval in rows follows the frame counts
# the checkpoints report: see ``_next_interval``. That interval is learnt
# from the writes before, so after bulk writes (many rows a page) it is
# far too long for the small commits that follow (an append alone: three
# rows, about ten pages), and the WAL would grow for thousands of commits
# (measured: 4 457 frames after 10 extends of 500 messages, and a commit
# into that long WAL slower by half). So a checkpoint is also due after
# ``_CHECKPOINT_COMMITS`` transactions that changed rows, whatever their rows.
_CHECKPOINT_FRAMES = 1000
_CHECKPOINT_FIRST = 250  # rows: an append alone changes three, writes about ten pages
_CHECKPOINT_BOUNDS = (50, 20_000)
_CHECKPOINT_COMMITS = 100
# A WAL found this long (frames) has not restarted for several checkpoints:
# writes of other processes keep overlapping this one's, so no checkpoint
# that waits for nobody finds every frame copied back. See ``_checkpoint``.
_RESTART_FRAMES = 4 * _CHECKPOINT_FRAMES


class StoreConnection(sqlite3.Connection):
    """A store's connection: ``searchable`` says whether the file has its
    search table (set once the connection is open; ``docs/design.md``, "Search")."""

    searchable: bool = False
    queued: int = 0  # messages this connection queued for the index since it last indexed
    index_rows: int = 0  # rows the index's own writes changed (FTS5 counts several a message)

    @property
    def counted(self) -> int:
        """Rows changed on this connection, the search index's writes left out:
        what the store's WAL checkpoints are paced by."""
        return self.total_changes - self.index_rows


class Database:
    """The lazily opened connection of one store (callers serialise access)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str,
        busy_timeout: float,
        search: bool = True,
    ) -> None:
        level = str(synchronous).upper()
        if level not in SYNCHRONOUS_LEVELS:
            raise InvalidInput(f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int | float):
            raise InvalidInput("busy_timeout must be a number of seconds")
        if not busy_timeout > 0:
            raise InvalidInput("busy_timeout must be positive")
        raw = os.fspath(path)
        # Resolved now: a later chdir must not move the database.
        self.path = _MEMORY if raw in ("", _MEMORY) else os.path.abspath(raw)
        self.synchronous = level
        self.busy_timeout = float(busy_timeout)
        self.search = bool(search)
        self._conn: StoreConnection | None = None
        self._pid = 0
        # Set by an async store (its runner's ``defer``): calls may then be
        # attempted on the event loop, and WAL checkpoints are this object's
        # to run, on the worker, never in a commit made on the loop.
        self.defer: Callable[[Callable[[], None]], None] | None = None
        self._inline = False  # the running call is an attempt on the loop
        self._waits = True  # the connection's busy handler is on
        self._mark = 0  # counted rows when the last checkpoint was due
        self._every = _CHECKPOINT_FIRST  # rows to change between two checkpoints
        self._checkpointed = 0  # counted rows when the last checkpoint ran
        self._commits = 0  # transactions that changed rows since one was due

    def call(
        self,
        op: Callable[Concatenate[StoreConnection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``op(connection, ...)``, with driver errors as ``StoreUnavailable``."""
        with map_exceptions(_DRIVER_ERRORS):
            conn = self._conn
            if conn is not None and conn.in_transaction:
                # A call of a group (:meth:`group`): the group's transaction
                # is open, and the group runs the chores after its commit.
                return op(conn, *args, **kwargs)
            if conn is None or self._pid != os.getpid():
                if self._inline:
                    raise WouldBlock  # opening and migrating happen on the worker
                self._drop_inherited()
                conn = self._open()
            if self._waits is self._inline:
                self._set_waiting(conn, not self._inline)
            before = conn.counted
            try:
                result = op(conn, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if self._inline and exc.sqlite_errorcode & 0xFF == _SQLITE_BUSY:
                    # Refused at BEGIN, or rolled back by ``transaction``:
                    # nothing changed, the worker may run it and wait.
                    raise WouldBlock from None
                raise
            if conn.queued >= INDEX_EVERY:
                self._soon(conn, index_queued)
            if conn.counted != before:
                self._commits += 1
            if self.defer is not None and (
                conn.counted - self._mark >= self._every or self._commits >= _CHECKPOINT_COMMITS
            ):
                self._mark, self._commits = conn.counted, 0
                if self.path != _MEMORY:
                    self._soon(conn, self._checkpoint)
            return result

    def group(self, calls: Sequence[Callable[[], Any]]) -> list[Outcome]:
        """Run ``calls`` (each a :meth:`call`) in one transaction: each in a
        savepoint of its own, so a call that fails is undone alone and gets
        its own error, and one commit makes them all durable. If the
        transaction itself fails (its commit, or an error SQLite ends it
        with), nothing of it stays and each call runs again on its own.
        ``docs/design.md``, "Store protocol" (group commit)."""
        if len(calls) == 1:
            return [_outcome(calls[0])]
        try:
            return self.call(_grouped, calls)
        except (_Broken, StoreUnavailable):
            if self._inline:
                raise WouldBlock from None  # on the worker, where calls may wait
            return [_outcome(call) for call in calls]

    def attempt(self, fn: Callable[[], T]) -> T:
        """``fn()`` (a :meth:`call`) without waiting for a lock, or :class:`WouldBlock`."""
        self._inline = True
        try:
            return fn()
        finally:
            self._inline = False

    def _set_waiting(self, conn: sqlite3.Connection, waits: bool) -> None:
        if self.path != _MEMORY:
            millis = round(self.busy_timeout * 1000) if waits else 0
            conn.execute(f"PRAGMA busy_timeout = {millis}")
        self._waits = waits

    def _soon(self, conn: StoreConnection, chore: Callable[[StoreConnection], None]) -> None:
        """``chore(conn)`` after a call: on the worker (as a call of its own)
        when the call ran on the event loop, else right here. The call has
        committed, so a chore that fails is left for the next time it is due
        (its errors are not the call's)."""
        if self._inline and self.defer is not None:
            self.defer(functools.partial(self.call, chore))
            return
        with suppress(sqlite3.Error):
            chore(conn)

    def _checkpoint(self, conn: StoreConnection) -> None:
        rows, self._checkpointed = conn.counted - self._checkpointed, conn.counted
        frames = _wal_checkpoint(conn)
        if frames >= _RESTART_FRAMES:
            # Take the write lock and empty the WAL, if that needs no wait:
            # waiting would hold the checkpoint lock (no other process's
            # checkpoint runs meanwhile) and, once it has the write lock,
            # stop every writer until the readers of old frames are done.
            # Refused, it copies what it can as the PASSIVE one did; the
            # next checkpoint tries again.
            waits = self._waits
            self._set_waiting(conn, False)
            try:
                _wal_checkpoint(conn, "TRUNCATE")
            finally:
                self._set_waiting(conn, waits)
        self._every = _next_interval(self._every, rows, frames)

    def close(self) -> None:
        self._drop_inherited()
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    def _drop_inherited(self) -> None:
        # A connection made before a fork belongs to the parent: the child
        # must not use it, nor close it (closing may touch the parent's
        # locks and WAL), so it is kept out of reach of the GC.
        if self._conn is not None and self._pid != os.getpid():
            _INHERITED.append(self._conn)
            self._conn = None

    def _open(self) -> StoreConnection:
        if self.path != _MEMORY:
            _prepare_file(self.path)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # the runner serialises access
            cached_statements=64,
            factory=StoreConnection,
        )
        try:
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            if self.path != _MEMORY:
                _use_wal(conn, self.busy_timeout)
                if self.defer is not None:
                    conn.execute("PRAGMA wal_autocheckpoint = 0")
            register_functions(conn)
            migrate(conn)
            conn.searchable = prepare_search(conn, self.search)
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        self._waits, self._mark, self._checkpointed = True, conn.counted, conn.counted
        return conn


class _Broken(Exception):
    """A group's transaction ended under it: nothing of the group stays."""


def _outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return call(), None
    except WouldBlock:
        raise
    except Exception as exc:  # the caller's own error, delivered to it
        return None, exc


def _grouped(conn: StoreConnection, calls: Sequence[Callable[[], Any]]) -> list[Outcome]:
    outcomes = []
    with transaction(conn, "BEGIN IMMEDIATE"):
        for call in calls:
            outcome = _outcome(call)
            if outcome[1] is not None and not conn.in_transaction:
                raise _Broken from outcome[1]
            outcomes.append(outcome)
    return outcomes


def prepare_search(conn: sqlite3.Connection, wanted: bool) -> bool:
    """Make the file's search table exist if ``wanted`` (indexing the messages
    already there), else not; whether it exists now. A SQLite built without
    FTS5 has none: search then raises ``SearchUnavailable``."""
    if (conn.execute(SEARCH_EXISTS).fetchone() is not None) is wanted:
        return wanted
    try:
        with transaction(conn, "BEGIN IMMEDIATE"):
            there = conn.execute(SEARCH_EXISTS).fetchone() is not None
            if wanted and not there:
                for statement in CREATE_SEARCH:
                    conn.execute(statement)
                conn.execute(CLEAR_QUEUE)  # every message is indexed now
            elif there and not wanted:
                conn.execute(DROP_SEARCH)
                conn.execute(CLEAR_QUEUE)
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
        return False  # no FTS5 in this SQLite
    return wanted


def index_queued(conn: StoreConnection) -> None:
    """Index the messages queued for search, in one transaction (none queued:
    one indexed read, no lock). ``docs/design.md``, "Search"."""
    conn.queued = 0
    if conn.execute(QUEUE_EMPTY).fetchone()[0]:
        return
    with transaction(conn, "BEGIN IMMEDIATE"):
        end = conn.execute(QUEUE_END).fetchone()[0]
        if end is not None:  # another connection may have emptied it meanwhile
            before = conn.total_changes
            conn.execute(INDEX_QUEUED, (end,))
            conn.execute(DEQUEUE, (end,))
            conn.index_rows += conn.total_changes - before


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions the search table indexes existing messages with."""
    conn.create_function("agentsession_text", 1, _stored_text, deterministic=True)
    conn.create_function("agentsession_scope", 3, search_scope, deterministic=True)


def _stored_text(data: str) -> str:
    try:
        return message_text(load_object(data))
    except IntegrityError:
        return ""  # not indexed; reading it fails as it always has


def _wal_checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> int:
    """A checkpoint; the number of frames the WAL held, -1 when not in WAL
    mode or when another connection's checkpoint was running. PASSIVE copies
    what no reader still needs and waits for nobody; TRUNCATE also takes
    the write lock, waits (by the busy handler) for the readers of the WAL,
    and empties the WAL file, so the next write starts it over."""
    row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(row[1]) if row is not None else -1


def _next_interval(every: int, rows: int, frames: int) -> int:
    """Rows to change before the next checkpoint, so that it finds about
    ``_CHECKPOINT_FRAMES`` frames, given that the last one found ``frames``
    after ``rows`` changed rows. Half-way from ``every`` to that aim: the
    frames a row costs vary (page splits, indexing), and a full step would
    swing. Kept within ``_CHECKPOINT_BOUNDS``."""
    if frames <= 0 or rows <= 0:
        return every
    low, high = _CHECKPOINT_BOUNDS
    return max(low, min(high, (every + rows * _CHECKPOINT_FRAMES // frames) // 2))


#: Calls short enough to attempt on the event loop: bounded reads always;
#: writes only when a commit does not wait for the disk (synchronous OFF or
#: NORMAL, in WAL mode) and the data is small.
_QUICK_READS = frozenset({"get_session", "get_entry"})
_QUICK_WRITES = frozenset(
    {"create_session", "update_session", "rotate_id", "set_head", "save_checkpoint"}
)
_QUICK_ROWS = 1000
_QUICK_BYTES = 64 * 1024


def is_quick(synchronous: str) -> Callable[[str, tuple[Any, ...], dict[str, Any]], int]:
    """The store call classifier (``QUICK`` / ``GROUP`` flags) for
    :meth:`Database.attempt` and :meth:`Database.group` (``docs/design.md``,
    "Store protocol"). Every append may share a transaction with others."""
    writes = synchronous in ("OFF", "NORMAL")

    def quick(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        if name in _QUICK_READS:
            return QUICK
        if name == "read_path":
            limit = kwargs.get("limit")
            return QUICK if limit is not None and limit <= _QUICK_ROWS else 0
        if name == "get_checkpoint":
            return 0 if kwargs.get("with_path", False) else QUICK
        if name == "list_sessions":
            rows: int = kwargs.get("limit", _QUICK_ROWS) + kwargs.get("offset", 0)
            return QUICK if rows <= _QUICK_ROWS else 0
        if name == "append":
            entries = args[1] if len(args) > 1 else kwargs.get("entries", ())
            small = sum(len(e.data_json) for e in entries) <= _QUICK_BYTES
            return GROUP | QUICK if writes and small else GROUP
        if not writes:
            return 0
        return QUICK if name in _QUICK_WRITES else 0

    return quick


def _prepare_file(path: str) -> None:
    """Create missing parent directories (0700) and the database file (0600)."""
    missing: list[str] = []
    directory = os.path.dirname(path)
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for directory in reversed(missing):
        with suppress(FileExistsError):
            os.mkdir(directory, 0o700)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # WAL is a property of the file: once set, reading it takes no lock.
    # Setting it needs exclusive access, for which SQLite does not call the
    # busy handler (a refused switch raises "locked" or returns the old
    # mode), so processes opening a fresh file at once retry here.
    deadline = time.monotonic() + timeout
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    while str(mode).lower() != "wal":
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        if str(mode).lower() == "wal":
            return
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"the database cannot use WAL mode (journal_mode={mode})")
        time.sleep(0.005)


def _version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agentsession_schema'"
    ).fetchone()
    if exists is None:
        return 0
    version: int | None = conn.execute(SCHEMA_VERSION_SQL).fetchone()[0]
    return version or 0


def transaction(conn: sqlite3.Connection, begin: str) -> AbstractContextManager[None]:
    """``begin`` ... ``COMMIT``, rolled back on any error (also a failed COMMIT).

    Inside a transaction already open (a call of a group), a savepoint of it
    instead: released at the end, rolled back to on any error."""
    return _Transaction(conn, begin)


class _Transaction(AbstractContextManager[None]):
    """:func:`transaction`. A class, not a generator: every store call enters
    one, and a generator-based context manager costs about twice as much."""

    __slots__ = ("_begin", "_conn", "_nested")

    def __init__(self, conn: sqlite3.Connection, begin: str) -> None:
        self._conn = conn
        self._begin = begin
        self._nested = False

    def __enter__(self) -> None:
        conn = self._conn
        self._nested = conn.in_transaction
        conn.execute("SAVEPOINT agentsession_call" if self._nested else self._begin)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn = self._conn
        if self._nested:
            if error is None:
                conn.execute("RELEASE agentsession_call")
            elif conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO agentsession_call")
                    conn.execute("RELEASE agentsession_call")
            return
        if error is None:
            try:
                conn.execute("COMMIT")
                return
            except BaseException:
                _roll_back(conn)
                raise
        _roll_back(conn)


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this file lacks; returns the schema version.

    Raises:
        StoreUnavailable: the file was written by a newer agentsession.
    """
    version = _version(conn)
    if version == SCHEMA_VERSION:
        return version
    with transaction(conn, "BEGIN IMMEDIATE"):
        conn.execute(CREATE_SCHEMA_TABLE)
        version = _version(conn)  # another process may have migrated meanwhile
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the database has schema version {version}; this agentsession knows "
                f"up to {SCHEMA_VERSION}: upgrade agentsession"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for step in MIGRATIONS[number - 1]:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
            conn.execute(RECORD_MIGRATION, (number, time.time_ns() // 1000))
    return SCHEMA_VERSION


# -- URLs --------------------------------------------------------------------


def parse_sqlite_url(url: str) -> tuple[str, dict[str, Any]]:
    """``sqlite:///relative.db`` / ``sqlite:////absolute.db`` -> (path, options).

    Query options: ``synchronous`` (OFF, NORMAL, FULL, EXTRA),
    ``busy_timeout`` (seconds) and ``search`` (``on`` or ``off``).
    ``sqlite://`` or ``sqlite:///:memory:`` is a private in-memory database.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite" or parts.netloc:
        raise InvalidInput("a SQLite URL looks like sqlite:///relative.db or sqlite:////abs.db")
    path = unquote(parts.path[1:]) if parts.path else ":memory:"
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "synchronous":
            options[key] = value
        elif key == "search":
            options[key] = url_switch(value, "search")
        elif key == "busy_timeout":
            try:
                options[key] = float(value)
            except ValueError:
                raise InvalidInput("busy_timeout must be a number of seconds") from None
        else:
            raise InvalidInput(f"unknown SQLite URL option {key!r}")
    return path or ":memory:", options
