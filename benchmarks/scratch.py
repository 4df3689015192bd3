"""Throw-away stores for one measurement: a URL per kind, removed afterwards.

Memory, SQLite (a file in ``directory``), file (a folder in ``directory``),
Redis (a random key prefix under ``name``) and PostgreSQL (a random schema
named after ``name``), on the servers of ``benchmarks.groups``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from .groups import POSTGRES_DSN, REDIS_URL

__all__ = ["drop", "pg_schema", "scratch_url"]


def scratch_url(kind: str, directory: Path, tag: str, name: str) -> str:
    """A store URL of ``kind`` no earlier call returned."""
    token = secrets.token_hex(4)
    urls = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{directory / (tag + '.db')}",
        "file": f"file://{directory / tag}",
        "redis": f"{REDIS_URL}?key_prefix={name}:{token}:",
        "postgres": f"{POSTGRES_DSN}?schema={name}_{token}",
    }
    if kind not in urls:
        raise ValueError(f"unknown store kind {kind!r}")
    return urls[kind]


def pg_schema(url: str) -> str:
    return url.split("schema=", 1)[1]


def drop(url: str) -> None:
    """Remove what a store of :func:`scratch_url` left on its server (files
    go with their temporary directory)."""
    if url.startswith("redis"):
        import redis

        prefix = url.split("key_prefix=", 1)[1]
        client = redis.Redis.from_url(REDIS_URL)
        try:
            for key in client.scan_iter(f"{prefix}*", count=1000):
                client.delete(key)
        finally:
            client.close()
    elif url.startswith("postgres"):
        import psycopg

        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema(url)}" CASCADE')
