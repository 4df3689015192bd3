"""Every store, by URL, for the agent runtime and the framework adapters.

``store_url`` is parametrized over the five back ends; a test opens as many
managers on it as it needs (two managers on one URL see the same sessions,
except ``memory://``, which is one store per open: tests that need a second
opener use :func:`shared_url`'s durable stores only).
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import postgres_dsn, redis_url


def need(module: str, extra: str) -> None:
    """Skip this test module when ``module`` (the ``extra``) is missing, except
    where ``AGENTSESSION_REQUIRE_AGENT_EXTRAS=1`` (the tox env that installs
    them), where a missing one fails."""
    if os.environ.get("AGENTSESSION_REQUIRE_AGENT_EXTRAS") == "1":
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=f"the {extra} extra is not installed")


STORES = ["memory", "file", "sqlite", "redis", "postgres"]
DURABLE = ["file", "sqlite", "redis", "postgres"]


def _url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "memory":
        yield "memory://"
    elif kind == "file":
        yield f"file://{tmp_path / 'sessions'}"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    elif kind == "redis":
        redis = pytest.importorskip("redis", reason="the redis extra is not installed")

        server = redis_url()
        prefix = f"astest:{secrets.token_hex(6)}:"
        yield f"{server}{'&' if '?' in server else '?'}key_prefix={prefix}"
        client = redis.Redis.from_url(server)
        try:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
        finally:
            client.close()
    else:
        psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")

        dsn = postgres_dsn()
        schema = "agentsession_test_" + secrets.token_hex(6)
        yield f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    yield from _url(request.param, tmp_path)


@pytest.fixture(params=DURABLE)
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind that a second opener (or process) shares."""
    yield from _url(request.param, tmp_path)
