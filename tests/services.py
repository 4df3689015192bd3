"""Where the tests find Redis and PostgreSQL, and what happens when they can't.

Outside CI an unreachable server skips its tests with the reason. Under
``CI=true`` or ``AGENTSESSION_REQUIRE_SERVICES=1`` unreachable is a failure.
Point the tests at your own servers with ``AGENTSESSION_TEST_REDIS_URL`` and
``AGENTSESSION_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("AGENTSESSION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "AGENTSESSION_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("AGENTSESSION_REQUIRE_SERVICES") == "1"
    )


def _reachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc})"


def require_server(name: str, url: str, default_port: int) -> str:
    """Return ``url`` if its server answers; otherwise skip, or fail under CI."""
    problem = _reachable(url, default_port)
    if problem is None:
        return url
    message = f"{name} server not reachable: {problem}"
    if services_required():
        pytest.fail(message + " (required: CI=true or AGENTSESSION_REQUIRE_SERVICES=1)")
    pytest.skip(message + "; set AGENTSESSION_TEST_* to point at one")


def redis_url() -> str:
    return require_server("Redis", REDIS_URL, 6379)


def postgres_dsn() -> str:
    return require_server("PostgreSQL", POSTGRES_DSN, 5432)


def fresh_store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty store of ``kind`` (memory, file, sqlite, redis,
    postgres); a server store's keys or schema are dropped afterwards."""
    if kind == "memory":
        yield "memory://"
    elif kind == "file":
        yield f"file://{tmp_path / 'sessions'}"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    elif kind == "redis":
        pytest.importorskip("redis", reason="the redis extra is not installed")
        server = redis_url()
        prefix = f"astest:{secrets.token_hex(6)}:"
        yield f"{server}{'&' if '?' in server else '?'}key_prefix={prefix}"
        drop_redis_keys(server, prefix)
    else:
        pytest.importorskip("psycopg", reason="the postgres extra is not installed")
        dsn = postgres_dsn()
        schema = "agentsession_test_" + secrets.token_hex(6)
        yield f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
        drop_postgres_schema(dsn, schema)


def drop_redis_keys(server: str, prefix: str) -> None:
    """Delete every key under ``prefix`` on the Redis server at ``server``."""
    import redis

    client = redis.Redis.from_url(server)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


def drop_postgres_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` (and everything in it) from the database at ``dsn``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
