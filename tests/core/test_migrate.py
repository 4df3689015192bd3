"""Migration between stores: whole, verified, resumable, never overwriting."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentsession import (
    UNCHECKED,
    AsyncSessionManager,
    MigrationReport,
    SessionManager,
    migrate,
    migrate_async,
)
from agentsession._models import same_export
from agentsession.stores import MemoryStore
from tests.services import fresh_store_url

CHAIN = ["memory", "sqlite", "redis", "postgres", "file"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def fill(manager: SessionManager, count: int) -> list[str]:
    """``count`` sessions of every shape: branches, checkpoints, state,
    metadata, owners, agents, expiry."""
    ids = []
    for n in range(count):
        s = manager.create(
            "a" if n % 3 else "b",
            user_id=None if n % 4 == 0 else f"user-{n % 2}",
            metadata={"n": n},
            ttl=timedelta(days=30) if n % 5 == 0 else None,
        )
        s.extend([{"role": "user", "content": f"{n}-{i}"} for i in range(n % 7 + 1)])
        if n % 2:
            point = s.checkpoint("cp", {"n": n})
            s.append({"role": "assistant", "content": "later"})
            s.restore(point.id)
            s.append({"role": "assistant", "content": "other branch"})
        if n % 3 == 0:
            s.update_state({"step": n})
        ids.append(s.id)
    return ids


@pytest.fixture
def managers(tmp_path: Path) -> Iterator[dict[str, SessionManager]]:
    clock = Clock()
    with ExitStack() as stack:
        made = {}
        for kind in CHAIN:
            url = stack.enter_context(_url(kind, tmp_path / kind))
            made[kind] = stack.enter_context(SessionManager(url, clock=clock))
        yield made


class _url:
    """A fresh store URL as a context manager (its keys or schema dropped after)."""

    def __init__(self, kind: str, where: Path) -> None:
        where.mkdir()
        self._urls = fresh_store_url(kind, where)

    def __enter__(self) -> str:
        return next(self._urls)

    def __exit__(self, *exc: object) -> None:
        next(self._urls, None)


def exports(manager: SessionManager, ids: list[str]) -> dict[str, object]:
    return {i: manager.export_session(i) for i in ids}


def test_sessions_cross_every_store_whole_and_verified(
    managers: dict[str, SessionManager],
) -> None:
    ids = fill(managers["memory"], 40)
    original = exports(managers["memory"], ids)
    for source, destination in itertools.pairwise(CHAIN):
        report = migrate(managers[source], managers[destination])
        assert (report.copied, report.skipped, report.conflicts, report.failed) == (40, 0, [], {})
        copied = exports(managers[destination], ids)
        for i in ids:
            assert same_export(copied[i], original[i])  # type: ignore[arg-type]
    # The copy is a working session: its history, branches and checkpoints.
    last = managers["file"].get(ids[1])
    assert [m.data["content"] for m in last.messages()][-1] == "other branch"
    assert len(last.branches()) == 2 and len(last.checkpoints()) == 1


def test_a_rerun_skips_what_is_there_and_an_interrupted_one_resumes(
    managers: dict[str, SessionManager],
) -> None:
    source, destination = managers["sqlite"], managers["postgres"]
    fill(source, 30)

    class Stop(Exception):
        pass

    def stop_after_12(report: MigrationReport) -> None:
        if report.copied == 12:
            raise Stop

    with pytest.raises(Stop):
        migrate(source, destination, progress=stop_after_12, page=7)
    assert len(destination.list(limit=100)) == 12
    resumed = migrate(source, destination, page=7)
    assert (resumed.copied, resumed.skipped, resumed.ok) == (18, 12, True)
    again = migrate(source, destination)
    assert (again.copied, again.skipped, again.ok) == (0, 30, True)


def test_a_different_session_under_the_same_id_is_reported_and_left_alone(
    managers: dict[str, SessionManager],
) -> None:
    source, destination = managers["redis"], managers["file"]
    (sid,) = fill(source, 1)
    destination.import_session(source.export_session(sid))
    source.get(sid).append({"role": "user", "content": "only on the source"})
    before = destination.export_session(sid)
    report = migrate(source, destination)
    assert report.conflicts == [sid] and report.copied == 0 and not report.ok
    assert destination.export_session(sid) == before


def test_filters_pick_by_agent_owner_and_time(managers: dict[str, SessionManager]) -> None:
    source = managers["memory"]
    ids = fill(source, 12)
    middle = source.export_session(ids[6]).session.updated_at
    by_agent = migrate(source, managers["sqlite"], agent="b")
    assert by_agent.copied == len([i for i in range(12) if i % 3 == 0])
    by_owner = migrate(source, managers["redis"], user_id="user-1")
    assert {s.user_id for s in managers["redis"].list(limit=100)} == {"user-1"}
    assert by_owner.copied == len([i for i in range(12) if i % 4 and i % 2 == 1])
    recent = migrate(source, managers["file"], updated_since=middle)
    assert {s.id for s in managers["file"].list(limit=100)} == set(ids[6:])
    assert recent.copied == 6


def test_a_damaged_session_fails_alone_and_nothing_of_it_is_written(tmp_path: Path) -> None:
    store = MemoryStore()
    source = SessionManager(store)
    ids = fill(source, 5)
    entry = source.get(ids[2]).messages()[0]
    store._tamper(ids[2], entry.id, {"role": "user", "content": "forged"})
    with SessionManager(f"sqlite:///{tmp_path / 'd.db'}") as destination:
        report = migrate(source, destination)
        assert report.copied == 4 and list(report.failed) == [ids[2]]
        assert "IntegrityError" in report.failed[ids[2]]
        assert destination.find(ids[2], user_id=UNCHECKED) is None


def test_urls_are_opened_and_closed_here(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 's.db'}"
    with SessionManager(source_url) as source:
        fill(source, 3)
    report = migrate(source_url, f"file://{tmp_path / 'files'}")
    assert report.copied == 3
    with SessionManager(f"file://{tmp_path / 'files'}") as destination:
        assert len(destination.list(limit=10)) == 3


@pytest.mark.asyncio
async def test_the_async_twin_migrates_too(tmp_path: Path) -> None:
    async with (
        AsyncSessionManager(f"sqlite:///{tmp_path / 's.db'}") as source,
        AsyncSessionManager(f"file://{tmp_path / 'files'}") as destination,
    ):
        for n in range(3):
            s = await source.create("a", user_id="u")
            await s.append({"role": "user", "content": str(n)})
        report = await migrate_async(source, destination)
        assert report.copied == 3
        again = await migrate_async(source, destination)
        assert again.skipped == 3 and again.ok
