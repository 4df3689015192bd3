"""Shared pieces of the web integration tests: a real store to count rows in,
forged cookies, and a framework-neutral view of a test client."""

from __future__ import annotations

import importlib.util
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from itsdangerous import TimestampSigner

from agentsession import Entry, SessionManager
from agentsession.integrations._web import DEFAULT_SALT
from agentsession.stores import AsyncMemoryStore, MemoryStore

HAVE_SQLITE = importlib.util.find_spec("agentsession.stores.sqlite._sync.store") is not None
KEY = "newest-secret-key"
OLD_KEY = "older-secret-key"
USER_HEADER = "X-Test-User"  # the test apps' get_user_id reads it


_FTS_SHADOW = re.compile(r"agentsession_search_(config|content|data|docsize|idx)")


def _data_tables(db: sqlite3.Connection) -> list[str]:
    """The tables holding data, by name: not the schema-version table, nor
    FTS5's shadow tables (derived; the search table itself lists its rows)."""
    names = db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    return [n for (n,) in names if "schema" not in n and not _FTS_SHADOW.fullmatch(n)]


@dataclass
class Backend:
    """The store a test app runs on: a SQLite file when that store exists,
    else one in-memory store shared by the app and the test."""

    path: Path | None
    memory: MemoryStore | None

    @classmethod
    def create(cls, tmp_path: Path) -> Backend:
        if HAVE_SQLITE:
            return cls(tmp_path / "sessions.db", None)
        return cls(None, MemoryStore())

    @property
    def url(self) -> str | None:
        return f"sqlite:///{self.path}" if self.path is not None else None

    def async_store(self) -> Any:
        return self.url if self.url is not None else AsyncMemoryStore(self.memory)

    def sync_store(self) -> Any:
        return self.url if self.url is not None else self.memory

    @contextmanager
    def manager(self, **options: Any) -> Iterator[SessionManager]:
        """A manager on the app's store (``options``: ``ttl``, ``clock``...)."""
        if self.url is not None:
            with SessionManager(self.url, **options) as manager:
                yield manager
        else:
            yield SessionManager(self.memory, **options)

    def session_count(self) -> int:
        with self.manager() as manager:
            return len(manager.list(limit=100_000))

    def row_count(self) -> int:
        """Rows in every data table of the SQLite file (its schema-version table
        aside); the number of sessions for the memory store."""
        if self.path is None:
            return self.session_count()
        if not self.path.exists():
            return 0
        with closing(sqlite3.connect(self.path)) as db:
            tables = _data_tables(db)
            return sum(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)

    def dump(self) -> list[Any]:
        """Everything stored, to compare before and after a request: the rows
        of the SQLite file's data tables (those with rows; the schema-version
        table and the search index's shadow tables aside); every session row
        for the memory store."""
        if self.path is None:
            with self.manager() as manager:
                return sorted(repr(info) for info in manager.list(limit=100_000))
        if not self.path.exists():
            return []
        with closing(sqlite3.connect(self.path)) as db:
            dumped = [
                (t, sorted(map(repr, db.execute(f'SELECT * FROM "{t}"')))) for t in _data_tables(db)
            ]
            return [(t, rows) for t, rows in dumped if rows]

    def entries(self, session_id: str) -> list[Entry]:
        with self.manager() as manager:
            return manager.get(session_id).entries()

    def owner(self, session_id: str) -> str | None:
        with self.manager() as manager:
            return manager.get(session_id).user_id


class _ClockSigner(TimestampSigner):
    def __init__(self, *args: Any, now: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return self._now


def forge_cookie(
    session_id: str, *, key: str = KEY, salt: str = DEFAULT_SALT, offset: float = 0
) -> str:
    """A cookie value as the integration would sign it, with any key, salt and
    signing time (``offset`` seconds from now)."""
    signer = _ClockSigner(key, salt=salt, now=int(time.time() + offset))
    return signer.sign(session_id).decode()


def tamper_signature(value: str) -> str:
    """``value`` (a signed cookie) with one signature character changed: one
    that carries only signature bits. The last base64 character also holds
    padding bits, which decoding ignores, so changing it may leave the
    signature valid."""
    swap = "A" if value[-5] != "A" else "B"
    return value[:-5] + swap + value[-4:]


@dataclass
class Reply:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


class WebClient(Protocol):
    """What every framework's test client is adapted to."""

    backend: Backend

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply: ...

    def cookie(self) -> str | None: ...

    def set_cookie(self, value: str) -> None: ...

    def clear_cookies(self) -> None: ...

    def fork(self) -> WebClient:
        """Another client (own cookie jar) on the same app."""
        ...


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0) ... work(count - 1)`` in as many threads, released at
    once; re-raise the first failure."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(args: list[str], port: int, log: Path) -> Iterator[str]:
    """Run ``python args...`` from the repository root until it accepts
    connections on ``port``; yields its base URL, terminates it afterwards.
    Its stdout and stderr go to ``log``."""
    root = Path(__file__).resolve().parents[2]
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], cwd=root, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited early:\n{log.read_text()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
