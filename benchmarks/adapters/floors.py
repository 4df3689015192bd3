"""Floors: the least a store on each back end can do for the same work.

One table (or list) of JSON messages per session and nothing else: no session
row, no tree, no digests, no expiry, no owner. Messages are serialised with
``json.dumps`` on write and decoded on read, as every system here does.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..durability import describe, read_sqlite, sqlite_intended
from ..workload import messages
from .base import Adapter, new_session_id

__all__ = ["RawPsycopg", "RawPsycopgAsync", "RawRedis", "RawRedisAsync", "RawSQLite"]


class RawSQLite(Adapter):
    group = "sqlite"
    role = "floor"
    name = "raw sqlite3 INSERT + COMMIT"

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self.intended = sqlite_intended(synchronous)
        self.durability = describe(self.intended) + " (set, not read back)"
        self.db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        # Shared with worker threads by the throughput run (one writer at a time).
        db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("CREATE TABLE msgs (id INTEGER PRIMARY KEY, session_id TEXT, data TEXT)")
        db.execute("CREATE INDEX msgs_session ON msgs (session_id, id)")
        db.commit()
        self.db = db

    def read_settings(self) -> dict[str, str]:
        return read_sqlite(self._db())

    def close(self) -> None:
        assert self.db is not None
        self.db.close()

    def _db(self) -> sqlite3.Connection:
        assert self.db is not None
        return self.db

    def new_empty(self) -> str:
        return new_session_id()

    def fill(self, handle: str, count: int) -> None:
        rows = [(handle, json.dumps(m)) for m in messages(0, count)]
        self._db().executemany("INSERT INTO msgs (session_id, data) VALUES (?, ?)", rows)
        self._db().commit()

    def create(self, msg: dict[str, Any]) -> str:
        sid = new_session_id()
        self.append(sid, msg)
        return sid

    def append(self, handle: str, msg: dict[str, Any]) -> None:
        db = self._db()
        with self._lock:
            db.execute(
                "INSERT INTO msgs (session_id, data) VALUES (?, ?)", (handle, json.dumps(msg))
            )
            db.commit()

    def last100(self, handle: str) -> list[Any]:
        rows = self._db().execute(
            "SELECT data FROM msgs WHERE session_id = ? ORDER BY id DESC LIMIT 100", (handle,)
        )
        return [json.loads(r[0]) for r in rows.fetchall()][::-1]

    def read_all(self, handle: str) -> list[Any]:
        rows = self._db().execute(
            "SELECT data FROM msgs WHERE session_id = ? ORDER BY id", (handle,)
        )
        return [json.loads(r[0]) for r in rows.fetchall()]


class RawRedis(Adapter):
    group = "redis"
    role = "floor"
    in_throughput = False  # RawRedisAsync is
    name = "raw redis-py RPUSH + LRANGE"

    def __init__(self, url: str, prefix: str, durability: str) -> None:
        self.url = url
        self.prefix = prefix
        self.durability = durability
        self.r: Any = None

    def open(self) -> None:
        import redis

        self.r = redis.Redis.from_url(self.url)

    def close(self) -> None:
        self.r.close()

    def new_empty(self) -> str:
        return self.prefix + new_session_id()

    def fill(self, handle: str, count: int) -> None:
        items = [json.dumps(m) for m in messages(0, count)]
        for start in range(0, count, 1_000):
            self.r.rpush(handle, *items[start : start + 1_000])

    def create(self, msg: dict[str, Any]) -> str:
        key = self.new_empty()
        self.r.rpush(key, json.dumps(msg))
        return key

    def append(self, handle: str, msg: dict[str, Any]) -> Any:
        return self.r.rpush(handle, json.dumps(msg))

    def last100(self, handle: str) -> list[Any]:
        return [json.loads(x) for x in self.r.lrange(handle, -100, -1)]

    def read_all(self, handle: str) -> list[Any]:
        return [json.loads(x) for x in self.r.lrange(handle, 0, -1)]


class RawRedisAsync(RawRedis):
    is_async = True
    in_throughput = True
    name = "raw redis.asyncio RPUSH + LRANGE"

    async def open(self) -> None:  # type: ignore[override]
        import redis.asyncio as aioredis

        self.r = aioredis.Redis.from_url(self.url)

    async def close(self) -> None:  # type: ignore[override]
        await self.r.aclose()

    async def new_empty(self) -> str:  # type: ignore[override]
        return self.prefix + new_session_id()

    async def fill(self, handle: str, count: int) -> None:  # type: ignore[override]
        items = [json.dumps(m) for m in messages(0, count)]
        for start in range(0, count, 1_000):
            await self.r.rpush(handle, *items[start : start + 1_000])

    async def create(self, msg: dict[str, Any]) -> str:  # type: ignore[override]
        key = self.prefix + new_session_id()
        await self.r.rpush(key, json.dumps(msg))
        return key

    async def last100(self, handle: str) -> list[Any]:  # type: ignore[override]
        return [json.loads(x) for x in await self.r.lrange(handle, -100, -1)]

    async def read_all(self, handle: str) -> list[Any]:  # type: ignore[override]
        return [json.loads(x) for x in await self.r.lrange(handle, 0, -1)]


_PG_TABLE = """
CREATE TABLE IF NOT EXISTS floor_msgs (
    id bigserial PRIMARY KEY, session_id text NOT NULL, data jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS floor_msgs_session ON floor_msgs (session_id, id);
"""
_PG_INSERT = "INSERT INTO floor_msgs (session_id, data) VALUES (%s, %s)"
_PG_LAST = "SELECT data FROM floor_msgs WHERE session_id = %s ORDER BY id DESC LIMIT 100"
_PG_ALL = "SELECT data FROM floor_msgs WHERE session_id = %s ORDER BY id"
_PG_ANALYZE = "ANALYZE floor_msgs"


class RawPsycopg(Adapter):
    """One psycopg connection in autocommit: one INSERT is one transaction."""

    group = "postgres"
    role = "floor"
    in_throughput = False  # RawPsycopgAsync is
    name = "raw psycopg INSERT + SELECT LIMIT"

    def __init__(self, dsn: str, schema: str, durability: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.durability = durability
        self.conn: Any = None

    def open(self) -> None:
        import psycopg

        self.conn = psycopg.connect(
            self.dsn, autocommit=True, options=f"-c search_path={self.schema}"
        )
        self.conn.execute(_PG_TABLE)

    def close(self) -> None:
        self.conn.close()

    def new_empty(self) -> str:
        return new_session_id()

    def fill(self, handle: str, count: int) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_PG_INSERT, [(handle, json.dumps(m)) for m in messages(0, count)])

    def create(self, msg: dict[str, Any]) -> str:
        sid = new_session_id()
        self.append(sid, msg)
        return sid

    def analyze(self) -> None:
        self.conn.execute(_PG_ANALYZE)

    def append(self, handle: str, msg: dict[str, Any]) -> None:
        self.conn.execute(_PG_INSERT, (handle, json.dumps(msg)))

    def last100(self, handle: str) -> list[Any]:
        return [r[0] for r in self.conn.execute(_PG_LAST, (handle,)).fetchall()][::-1]

    def read_all(self, handle: str) -> list[Any]:
        return [r[0] for r in self.conn.execute(_PG_ALL, (handle,)).fetchall()]


class RawPsycopgAsync(RawPsycopg):
    is_async = True
    in_throughput = True
    name = "raw psycopg async INSERT + SELECT LIMIT"

    async def open(self) -> None:  # type: ignore[override]
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, options=f"-c search_path={self.schema}"
        )
        await self.conn.execute(_PG_TABLE)

    async def close(self) -> None:  # type: ignore[override]
        await self.conn.close()

    async def new_empty(self) -> str:  # type: ignore[override]
        return new_session_id()

    async def fill(self, handle: str, count: int) -> None:  # type: ignore[override]
        async with self.conn.cursor() as cur:
            await cur.executemany(_PG_INSERT, [(handle, json.dumps(m)) for m in messages(0, count)])

    async def create(self, msg: dict[str, Any]) -> str:  # type: ignore[override]
        sid = new_session_id()
        await self.conn.execute(_PG_INSERT, (sid, json.dumps(msg)))
        return sid

    async def analyze(self) -> None:  # type: ignore[override]
        await self.conn.execute(_PG_ANALYZE)

    async def append(self, handle: str, msg: dict[str, Any]) -> None:  # type: ignore[override]
        await self.conn.execute(_PG_INSERT, (handle, json.dumps(msg)))

    async def last100(self, handle: str) -> list[Any]:  # type: ignore[override]
        cur = await self.conn.execute(_PG_LAST, (handle,))
        return [r[0] for r in await cur.fetchall()][::-1]

    async def read_all(self, handle: str) -> list[Any]:  # type: ignore[override]
        cur = await self.conn.execute(_PG_ALL, (handle,))
        return [r[0] for r in await cur.fetchall()]
