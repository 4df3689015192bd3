"""Stores of every kind for the sealed-store tests, and a byte-level picture of
each (what is stored, read behind the library's back)."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsession import AsyncStore, Store, open_async_store, open_store
from tests.services import fresh_store_url

KINDS = ["memory", "file", "sqlite", "redis", "postgres"]
DURABLE = ["file", "sqlite", "redis", "postgres"]


def ring_pairs(*ids: str) -> list[tuple[str, bytes]]:
    """Keys derived from their ids: the same id gives the same key in every test."""
    return [(i, (i.encode() * 32)[:32]) for i in ids]


def other_key(key_id: str) -> list[tuple[str, bytes]]:
    """A key with the same id as ``ring_pairs(key_id)``'s, but other bytes."""
    return [(key_id, b"\x00" * 32)]


def url_of(kind: str, tmp_path: Path) -> Iterator[str]:
    yield from fresh_store_url(kind, tmp_path)


def open_kind(url: str, *, asynchronous: bool = False) -> Any:
    return open_async_store(url) if asynchronous else open_store(url)


def tamper(kind: str, inner: Store | AsyncStore, session_id: str, entry_id: str, data: Any) -> None:
    """Rewrite one stored entry's data behind the library's back."""
    if kind == "memory":
        target: Any = inner
        target._tamper(session_id, entry_id, data)
    elif kind == "file":
        from tests.core.stores.file._file_support import tamper as file_tamper

        file_tamper(inner.path, session_id, entry_id, data)  # type: ignore[union-attr]
    elif kind == "sqlite":
        from tests.core.stores.sqlite.test_sqlite import tamper as sqlite_tamper

        sqlite_tamper(inner.path, session_id, entry_id, data)  # type: ignore[union-attr]
    elif kind == "redis":
        from tests.core.stores.redis.test_redis_support import tamper as redis_tamper
        from tests.services import redis_url

        db: Any = inner._db  # type: ignore[union-attr]
        redis_tamper(redis_url(), db.keys.prefix, session_id, entry_id, data)
    else:
        from tests.core.stores.postgres.test_postgres import tamper as pg_tamper
        from tests.services import postgres_dsn

        pg_tamper(postgres_dsn(), inner.schema, session_id, entry_id, data)  # type: ignore[union-attr]


def picture(kind: str, url: str) -> list[Any]:
    """Everything the store at ``url`` holds, read without the library: SQLite
    rows, every file's bytes, every Redis key's value and TTL, every
    PostgreSQL row. Two equal pictures: nothing stored changed."""
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        db = sqlite3.connect(path)
        try:
            return list(db.iterdump())
        finally:
            db.close()
    if kind == "file":
        base = Path(url.removeprefix("file://"))
        return [
            (str(p.relative_to(base)), os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(base.rglob("*"))
            if p.is_file() or p.is_symlink()
        ]
    if kind == "redis":
        import redis

        server, _, query = url.partition("?")
        prefix = query.split("key_prefix=", 1)[1].split("&", 1)[0]
        client = redis.Redis.from_url(server)
        try:
            keys = sorted(client.scan_iter(match=f"{prefix}*", count=1000))
            return [(k, client.dump(k), client.pttl(k) > 0) for k in keys]
        finally:
            client.close()
    if kind == "postgres":
        import psycopg

        dsn, _, query = url.partition("?")
        schema = query.split("schema=", 1)[1].split("&", 1)[0]
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows: list[Any] = []
            for table in ("agentsession_session", "agentsession_entry", "agentsession_checkpoint"):
                found = conn.execute(
                    f'SELECT to_jsonb(t)::text FROM "{schema}".{table} AS t ORDER BY 1'
                ).fetchall()
                rows.append((table, [r[0] for r in found]))
            return rows
    pytest.skip("a memory store has no bytes to compare")


def raw_text(kind: str, url: str) -> bytes:
    """Every byte the store holds, as one blob to search for plaintext."""
    if kind == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
    if kind == "file":
        base = Path(url.removeprefix("file://"))
        return b"".join(p.read_bytes() for p in base.rglob("*") if p.is_file())
    return repr(picture(kind, url)).encode()


def b64_forms(text: str) -> list[bytes]:
    """``text`` and the base64 forms it could take inside a record."""
    raw = text.encode()
    return [raw, base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
