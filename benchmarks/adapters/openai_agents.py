"""OpenAI Agents SDK sessions: ``SQLiteSession``, ``RedisSession``, ``SQLAlchemySession``.

All three are async. Each benchmark session is one SDK session object, as an
application holds one per conversation; they share the file, client or engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from ..durability import describe, read_sqlite, sqlite_intended
from ..workload import message, messages
from .base import Adapter, new_session_id

__all__ = ["AgentsRedisSession", "AgentsSQLAlchemySession", "AgentsSQLiteSession"]

_BATCH = 1_000


class _AgentsSession(Adapter):
    is_async = True
    note = "reads the last 100 with `get_items(limit=100)`"
    # All three append to a list (rows with an autoincrement key, or a Redis
    # list): there is no head to race on, so concurrent appends keep every message.
    one_chain = True

    def _session(self, session_id: str) -> Any:
        raise NotImplementedError

    async def new_empty(self) -> Any:
        # An existing, empty session, as ours is after create(): its session
        # row stored (one item added, then popped) and its connection open,
        # so "append at H = 0" is not the session's creation again.
        session = self._session(new_session_id())
        await session.add_items([message(0)])
        await session.pop_item()
        return session

    async def fill(self, handle: Any, count: int) -> None:
        for start in range(0, count, _BATCH):
            await handle.add_items(messages(start, min(_BATCH, count - start)))

    async def create(self, msg: dict[str, Any]) -> Any:
        s = self._session(new_session_id())
        await s.add_items([msg])
        return s

    def append(self, handle: Any, msg: dict[str, Any]) -> Any:
        return handle.add_items([msg])

    def last100(self, handle: Any) -> Any:
        return handle.get_items(limit=100)

    def read_all(self, handle: Any) -> Any:
        return handle.get_items()


class AgentsSQLiteSession(_AgentsSession):
    """``agents.SQLiteSession`` on a file, WAL (it sets that itself) and the given
    ``synchronous`` level (it leaves SQLite's default, FULL, unless told).

    One chain: each ``add_items`` is one transaction (INSERT OR IGNORE of the
    session row, INSERT of the messages, UPDATE) under a per-file lock in the
    process and SQLite's write lock across processes."""

    group = "sqlite"

    def __init__(self, path: Path, synchronous: str | None, group: str = "sqlite") -> None:
        from agents import SQLiteSession

        self.path = path
        self.group = group
        level = synchronous

        class _Session(SQLiteSession):
            @staticmethod
            def _configure_connection(conn: sqlite3.Connection) -> None:
                SQLiteSession._configure_connection(conn)
                if level is not None:
                    conn.execute(f"PRAGMA synchronous={level}")

        self._cls = _Session
        self.name = "OpenAI Agents SQLiteSession" + ("" if synchronous else " (as shipped)")
        self.intended = sqlite_intended(synchronous or "FULL")
        self.durability = describe(self.intended) + " (set, not read back)"
        self.durability_note = "" if synchronous else ", its default"

    def _session(self, session_id: str) -> Any:
        return self._cls(session_id, self.path)

    async def read_settings(self) -> dict[str, str]:
        # A session opens one connection per worker thread, each through
        # _configure_connection: read one the way add_items gets it.
        probe = self._session(new_session_id())

        def read() -> dict[str, str]:
            with probe._locked_connection() as conn:
                return read_sqlite(conn)

        try:
            return await asyncio.to_thread(read)
        finally:
            probe.close()

    async def release(self, handle: Any) -> None:
        handle.close()


class AgentsRedisSession(_AgentsSession):
    """One chain: ``add_items`` is WATCH + MULTI/EXEC (RPUSH), retried on a conflict."""

    group = "redis"
    name = "OpenAI Agents RedisSession"

    def __init__(self, url: str, prefix: str, durability: str) -> None:
        self.url = url
        self.prefix = prefix
        self.durability = durability
        self.client: Any = None

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(self.url)

    async def close(self) -> None:
        await self.client.aclose()

    def _session(self, session_id: str) -> Any:
        from agents.extensions.memory import RedisSession

        return RedisSession(session_id, redis_client=self.client, key_prefix=self.prefix)


class AgentsSQLAlchemySession(_AgentsSession):
    """``SQLAlchemySession`` on PostgreSQL through asyncpg (the driver its docs show).

    One chain: ``add_items`` locks the session row, then inserts the messages
    (autoincrement keys) in the same transaction."""

    group = "postgres"
    name = "OpenAI Agents SQLAlchemySession"

    def __init__(self, dsn: str, schema: str, durability: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.durability = durability
        self.engine: Any = None

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        url = self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        self.engine = create_async_engine(
            url, connect_args={"server_settings": {"search_path": self.schema}}
        )
        from agents.extensions.memory import SQLAlchemySession

        # Tables once, as a deployment does; sessions then use create_tables=False.
        maker = SQLAlchemySession(new_session_id(), engine=self.engine, create_tables=True)
        await maker.get_items()

    async def close(self) -> None:
        await self.engine.dispose()

    async def analyze(self) -> None:
        async with self.engine.begin() as conn:  # its default tables
            await conn.exec_driver_sql("ANALYZE agent_sessions, agent_messages")

    def _session(self, session_id: str) -> Any:
        from agents.extensions.memory import SQLAlchemySession

        return SQLAlchemySession(session_id, engine=self.engine)
