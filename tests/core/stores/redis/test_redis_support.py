"""Helpers shared by the Redis test files (this module holds no tests).

Each test gets its own key prefix and its keys are deleted afterwards, so runs
never collide with each other or with anything else on the server.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis
from redis.cluster import RedisCluster

from agentsession.stores.redis._async.store import AsyncRedisStore
from agentsession.stores.redis._records import Keys
from agentsession.stores.redis._sync.store import RedisStore
from tests.services import services_required

ROOT = Path(__file__).resolve().parents[4]
CLUSTER_SCRIPT = ROOT / "scripts" / "redis-cluster.sh"


def unique_prefix() -> str:
    return f"astest:{uuid.uuid4().hex[:12]}:"


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}key_prefix={prefix}"


def plain_client(url: str) -> redis.Redis | RedisCluster:
    """A driver client for the test's own checks (never the store's)."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        # Not RedisCluster.from_url: its node pools stay connected after close().
        parts = urlsplit(url)
        return RedisCluster(host=parts.hostname, port=parts.port or 6379, decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True)


def cluster_client(url: str) -> RedisCluster:
    client = plain_client(url)
    assert isinstance(client, RedisCluster)
    return client


def prefix_keys(client: Any, prefix: str) -> list[str]:
    return sorted(set(client.scan_iter(match=prefix + "*", count=1000)))


def indexes_holding(client: Any, prefix: str, session_id: str) -> list[str]:
    """The listing index keys (sorted sets, and the owner map) naming ``session_id``."""
    found = []
    for key in prefix_keys(client, Keys(prefix).idx):
        if client.type(key) == "hash":
            if client.hexists(key, session_id):
                found.append(key)
        elif client.zscore(key, session_id) is not None:
            found.append(key)
    return found


def purge(url: str, prefix: str) -> None:
    client = plain_client(url)
    try:
        for key in prefix_keys(client, prefix):
            client.delete(key)
    finally:
        client.close()


def tamper(url: str, prefix: str, session_id: str, entry_id: str, data: dict[str, Any]) -> None:
    """Rewrite one entry's stored data behind the library's back."""
    client = plain_client(url)
    try:
        key = Keys(prefix).session(session_id)[1]
        *fields, _ = str(client.hget(key, entry_id)).split("\t", 7)  # all but the data
        client.hset(key, entry_id, "\t".join([*fields, json.dumps(data)]))
    finally:
        client.close()


class RedisSuite:
    """``store`` and ``tamper_entry`` for the conformance suite, on the server
    the test module's ``server`` fixture names, under a fresh key prefix."""

    url = ""

    @pytest.fixture
    def store(self, server: str) -> Iterator[RedisStore]:
        self.url, prefix = server, unique_prefix()
        store = RedisStore.from_url(with_prefix(server, prefix))
        yield store
        store.close()
        purge(server, prefix)

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(self.url, store._db.keys.prefix, session_id, entry_id, data)


class AsyncRedisSuite(RedisSuite):
    @pytest_asyncio.fixture
    async def store(self, server: str) -> AsyncIterator[AsyncRedisStore]:  # type: ignore[override]
        self.url, prefix = server, unique_prefix()
        store = AsyncRedisStore.from_url(with_prefix(server, prefix))
        yield store
        await store.close()
        purge(server, prefix)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (the Debian package redis-server provides it)"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    return path


class PrivateRedis:
    """A redis-server of the test's own on a loopback port, with AOF fsync always."""

    def __init__(self, directory: Path, unix_socket: Path | None = None) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.dir = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.unix_socket = unix_socket  # also listen there (unix:// URLs)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                *(["--unixsocket", str(self.unix_socket)] if self.unix_socket else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.exceptions.RedisError:  # refused, or still loading the AOF
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; only what was fsynced survives."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def command_stats(self) -> dict[str, int]:
        client = redis.Redis(port=self.port, decode_responses=True)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def _cluster_base_port() -> int:
    """A base port with base..base+2 and their bus ports (+10000) all free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 29000)
        ports = [base + n for n in (0, 1, 2, 10000, 10001, 10002)]
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for a Redis Cluster")


class Cluster:
    """A 3-master cluster: $AGENTSESSION_TEST_REDIS_CLUSTER_URL, else one of this
    test run's own, started by scripts/redis-cluster.sh on free ports."""

    def __init__(self) -> None:
        self.url = os.environ.get("AGENTSESSION_TEST_REDIS_CLUSTER_URL", "")
        self.base: int | None = None
        if self.url:
            return
        require_binary("redis-server")
        require_binary("redis-cli")
        self.base = _cluster_base_port()
        done = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "start", str(self.base)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            self.stop()
            pytest.fail(f"could not start a Redis Cluster: {done.stderr.strip()}")
        self.url = done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.base is not None:
            subprocess.run(
                ["bash", str(CLUSTER_SCRIPT), "stop", str(self.base)], check=True, timeout=60
            )
            self.base = None
