"""agentsession itself, sync and async, on any store URL."""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentsession import (
    AsyncSession,
    AsyncSessionManager,
    Session,
    SessionManager,
    open_async_store,
    open_store,
)

from ..durability import read_sqlite
from ..workload import messages
from .base import Adapter

__all__ = ["AGENT", "USER", "Ours", "OursAsync"]

AGENT = "bench"
USER = "bench-user"
_BATCH = 500


def _store_call(store: Any, op: Any) -> Any:
    # The SQLite store's own connection (opened on first use and kept), through
    # its runner: the connection every timed call then uses. Private, on purpose:
    # the public API has no reason to expose pragmas. (An async store's runner
    # returns an awaitable.)
    return store._runner.run(functools.partial(store._db.call, op))


def _analyze(url: str) -> None:
    """ANALYZE our tables when ``url`` is a PostgreSQL store's (see Adapter.analyze)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", "public")
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s"
            " AND tablename LIKE 'agentsession%%'",
            (schema,),
        ).fetchall()
        for (table,) in tables:
            conn.execute(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )


class Ours(Adapter):
    role = "ours"
    has_checkpoints = True
    in_throughput = False  # the async twin is the one measured there

    def __init__(self, url: str, *, group: str, durability: str, label: str = "") -> None:
        self.url = url
        self.group = group
        self.durability = durability
        self.name = f"agentsession {label or group} (sync)"
        self.mgr: SessionManager | None = None

    def open(self) -> None:
        self.mgr = SessionManager(open_store(self.url))

    def read_settings(self) -> dict[str, str] | None:
        if self.intended is None:
            return None  # not SQLite: the server's setting, read by the group
        return _store_call(self._m().store, read_sqlite)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.mgr is not None:
            self.mgr.close()

    def analyze(self) -> None:
        _analyze(self.url)

    def _m(self) -> SessionManager:
        assert self.mgr is not None
        return self.mgr

    def new_empty(self) -> Session:
        return self._m().create(AGENT, user_id=USER)

    def fill(self, handle: Session, count: int) -> None:
        for start in range(0, count, _BATCH):
            handle.extend(messages(start, min(_BATCH, count - start)))

    def create(self, msg: dict[str, Any]) -> Session:
        s = self._m().create(AGENT, user_id=USER)
        s.append(msg)
        return s

    def append(self, handle: Session, msg: dict[str, Any]) -> Any:
        return handle.append(msg)

    def last100(self, handle: Session) -> Any:
        return handle.messages(limit=100)

    def read_all(self, handle: Session) -> Any:
        return handle.messages()

    def checkpoint(self, handle: Session) -> Any:
        return handle.checkpoint()

    def restore(self, handle: Session, point: Any) -> Any:
        return handle.restore(point.id)

    def populate_listing(self, sessions: int, user: str) -> None:
        """``sessions`` sessions of one user, one message each (for the cold listing)."""
        m = self._m()
        for i in range(sessions):
            m.create(AGENT, user_id=user).append({"role": "user", "content": f"hello {i}"})


class OursAsync(Adapter):
    role = "ours"
    is_async = True
    has_checkpoints = True

    def __init__(self, url: str, *, group: str, durability: str, label: str = "") -> None:
        self.url = url
        self.group = group
        self.durability = durability
        self.name = f"agentsession {label or group} (async)"
        self.mgr: AsyncSessionManager | None = None

    async def open(self) -> None:
        self.mgr = AsyncSessionManager(open_async_store(self.url))

    async def read_settings(self) -> dict[str, str] | None:
        if self.intended is None:
            return None
        return await _store_call(self._m().store, read_sqlite)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.mgr is not None:
            await self.mgr.close()

    async def analyze(self) -> None:
        await asyncio.to_thread(_analyze, self.url)

    def _m(self) -> AsyncSessionManager:
        assert self.mgr is not None
        return self.mgr

    async def new_empty(self) -> AsyncSession:
        return await self._m().create(AGENT, user_id=USER)

    async def fill(self, handle: AsyncSession, count: int) -> None:
        for start in range(0, count, _BATCH):
            await handle.extend(messages(start, min(_BATCH, count - start)))

    async def create(self, msg: dict[str, Any]) -> AsyncSession:
        s = await self._m().create(AGENT, user_id=USER)
        await s.append(msg)
        return s

    def append(self, handle: AsyncSession, msg: dict[str, Any]) -> Any:
        return handle.append(msg)

    def last100(self, handle: AsyncSession) -> Any:
        return handle.messages(limit=100)

    def read_all(self, handle: AsyncSession) -> Any:
        return handle.messages()

    def checkpoint(self, handle: AsyncSession) -> Any:
        return handle.checkpoint()

    def restore(self, handle: AsyncSession, point: Any) -> Any:
        return handle.restore(point.id)
