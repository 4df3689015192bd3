"""Faults: the store's backend connections are killed (``pg_terminate_backend``
from another connection) in the middle of a run of appends.

What is promised: a call whose connection dies raises ``StoreUnavailable``
with the psycopg error as ``__cause__`` (it is not retried: a write may or may
not have committed); calls that get a live connection succeed. Afterwards
every append that returned is on the path, the history is one unbroken chain
with the session row in step (nothing half-written), and the same store
object works again at once: no call fails after the outage, since a pooled
connection whose backend was killed while idle is discarded before use.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from agentsession import AsyncSessionManager, Entry, SessionManager, StoreUnavailable
from agentsession.stores.postgres._async.store import AsyncPostgresStore
from agentsession.stores.postgres._sync.store import PostgresStore
from agentsession.testing import FakeClock, assert_one_chain

from . import test_postgres as shared

dsn, pg_schema = shared.dsn, shared.pg_schema

OUTAGE_SECONDS = 1.0


class Killer:
    """Terminates every backend of one application_name, every 20 ms, from
    its own connection, until stopped."""

    def __init__(self, dsn: str, application: str) -> None:
        self.dsn, self.application = dsn, application
        self.killed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            while not self._stop.is_set():
                row = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (self.application,),
                ).fetchone()
                self.killed += row[0] if row else 0
                time.sleep(0.02)


class Run:
    """The bookkeeping of one run of appends."""

    def __init__(self) -> None:
        self.returned: list[Entry] = []
        self.failures: list[StoreUnavailable] = []
        self.attempts = 0

    def data(self) -> dict[str, Any]:
        self.attempts += 1
        return {"role": "user", "content": f"append {self.attempts}"}


def app_url(dsn: str, schema: str) -> tuple[str, str]:
    application = "agentsession-fault-" + secrets.token_hex(4)
    return f"{shared.url_for(dsn, schema)}&application_name={application}", application


def check_history(
    dsn: str, schema: str, session_id: str, path: list[Entry], run: Run, after: int
) -> None:
    print(
        f"appends returned {len(run.returned)}, failed {len(run.failures)} during the "
        f"outage and {after} after it; {len(path)} on the path"
    )
    assert_one_chain(path, len(path))
    on_path = {e.id: e for e in path}
    for entry in run.returned:  # every append that returned is there, intact
        assert on_path[entry.id] == entry
    # A failed call may have committed before its connection died; no more.
    assert len(run.returned) <= len(path) <= len(run.returned) + len(run.failures) + after
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f'SELECT s.head, s.message_count, s.revision, count(e.id) FROM "{schema}".'
            f'agentsession_session s JOIN "{schema}".agentsession_entry e '
            "ON e.session_pk = s.pk WHERE s.id = %s GROUP BY s.pk",
            (session_id,),
        ).fetchone()
    # The row moved with every entry written, and no entry exists off the path.
    assert row == (path[-1].id, len(path), len(path), len(path))


def test_backends_killed_during_appends(dsn: str, pg_schema: str) -> None:
    url, application = app_url(dsn, pg_schema)
    store = PostgresStore.from_url(url, min_size=2, max_size=4)
    with SessionManager(store, clock=FakeClock()) as manager:
        session = manager.create("assistant")
        run = Run()
        for _ in range(20):
            run.returned.append(session.append(run.data()))
        with Killer(dsn, application) as killer:
            deadline = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < deadline:
                try:
                    run.returned.append(session.append(run.data()))
                except StoreUnavailable as exc:
                    run.failures.append(exc)
        assert killer.killed > 0 and run.failures, "the outage was not observed"
        assert all(isinstance(f.__cause__, psycopg.Error) for f in run.failures)
        time.sleep(0.05)  # the killer's last round is over; no settling is needed
        after = 0
        for _ in range(20):  # the same store object, once the killing stopped
            try:
                run.returned.append(session.append(run.data()))
            except StoreUnavailable:
                after += 1
        assert after == 0
        run.returned.append(session.append(run.data()))
        check_history(dsn, pg_schema, session.id, session.messages(), run, after)


@pytest.mark.asyncio
async def test_backends_killed_during_async_appends(dsn: str, pg_schema: str) -> None:
    url, application = app_url(dsn, pg_schema)
    store = AsyncPostgresStore.from_url(url, min_size=2, max_size=4)
    async with AsyncSessionManager(store, clock=FakeClock()) as manager:
        session = await manager.create("assistant")
        run = Run()

        async def attempt(call: Callable[[], Awaitable[Entry]]) -> bool:
            try:
                run.returned.append(await call())
            except StoreUnavailable as exc:
                run.failures.append(exc)
                return False
            return True

        for _ in range(20):
            assert await attempt(lambda: session.append(run.data()))
        with Killer(dsn, application) as killer:
            deadline = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < deadline:
                await attempt(lambda: session.append(run.data()))
                await asyncio.sleep(0)
        assert killer.killed > 0 and run.failures, "the outage was not observed"
        assert all(isinstance(f.__cause__, psycopg.Error) for f in run.failures)
        during = len(run.failures)
        await asyncio.sleep(0.05)
        for _ in range(20):
            await attempt(lambda: session.append(run.data()))
        after = len(run.failures) - during
        assert after == 0
        run.failures = run.failures[:during]
        check_history(dsn, pg_schema, session.id, await session.messages(), run, after)


def kill_idle_backends(dsn: str, application: str, expected: int) -> None:
    """Terminate every backend of ``application`` at once and wait until they
    are gone (the pool's connections are idle: nothing of the store runs)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    with psycopg.connect(dsn, autocommit=True) as admin:
        # The pool refills in the background after a kill: on a busy machine
        # its last connections may still be on their way.
        deadline = time.monotonic() + 10
        row = admin.execute(query, (application,)).fetchone()
        while row != (expected,) and time.monotonic() < deadline:
            time.sleep(0.02)
            row = admin.execute(query, (application,)).fetchone()
        assert row == (expected,), "the pool does not hold the connections expected"
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        )
        deadline = time.monotonic() + 5
        while admin.execute(query, (application,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "the backends did not exit"
            time.sleep(0.01)


def test_idle_connections_killed_between_calls(dsn: str, pg_schema: str) -> None:
    # A server restart or an idle cut kills the pool's idle connections while
    # nothing runs: the next calls must not fail on them.
    url, application = app_url(dsn, pg_schema)
    store = PostgresStore.from_url(url, min_size=3, max_size=3)
    with SessionManager(store, clock=FakeClock()) as manager:
        session = manager.create("assistant")
        store.pool.wait()
        for _ in range(2):
            kill_idle_backends(dsn, application, expected=3)
            for n in range(10):
                session.append({"role": "user", "content": f"after {n}"})
        assert len(session.messages()) == 20


@pytest.mark.asyncio
async def test_idle_connections_killed_between_async_calls(dsn: str, pg_schema: str) -> None:
    url, application = app_url(dsn, pg_schema)
    store = AsyncPostgresStore.from_url(url, min_size=3, max_size=3)
    async with AsyncSessionManager(store, clock=FakeClock()) as manager:
        session = await manager.create("assistant")
        await store.pool.wait()
        for _ in range(2):
            await asyncio.to_thread(kill_idle_backends, dsn, application, 3)
            for n in range(10):
                await session.append({"role": "user", "content": f"after {n}"})
        assert len(await session.messages()) == 20


def test_unreachable_server_is_store_unavailable() -> None:
    store = PostgresStore.from_url(
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", timeout=1.0
    )
    with SessionManager(store) as manager, pytest.raises(StoreUnavailable) as info:
        manager.create("assistant")
    assert isinstance(info.value.__cause__, psycopg.Error)


@pytest.mark.asyncio
async def test_unreachable_server_is_store_unavailable_async() -> None:
    store = AsyncPostgresStore.from_url(
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", timeout=1.0
    )
    async with AsyncSessionManager(store) as manager:
        with pytest.raises(StoreUnavailable) as info:
            await manager.get("some-session")
        assert isinstance(info.value.__cause__, psycopg.Error)
