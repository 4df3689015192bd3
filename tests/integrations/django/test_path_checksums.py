"""The ORM store keeps each entry's path checksum: an append reads its parent's
with its depth, a checkpoint reads the head's, and rows of the release before
get theirs from the migrations.

``legacy/release2.json`` holds the rows the ORM store of commit ec44eb8 wrote
(``legacy/make_release2.py`` ran that commit's code). The tests of old rows
migrate the test database back to 0001 (that release's schema), write those
rows there, migrate forward and use the store of this release on them, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps.registry import Apps
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from agentsession import Session, SessionManager
from agentsession.integrations.django._checksums import BATCH
from agentsession.integrations.django.models import StoredEntry
from agentsession.integrations.django.store import DjangoStore
from agentsession.store import Entry, with_checksums

from .ormstore import DATABASES

RELEASE2 = json.loads((Path(__file__).parent / "legacy" / "release2.json").read_text())
APP = "agentsession"
#: The schema of the release before path checksums.
BEFORE = (APP, "0001_initial")
ADDED = (APP, "0002_storedentry_checksum")
FILL = "0003_fill_in_checksums"


def migrate(using: str, target: tuple[str, str] | None = None) -> Apps:
    """Migrate the app to ``target`` (default: its newest migration); the
    models of that state."""
    executor = MigrationExecutor(connections[using])
    node = target or executor.loader.graph.leaf_nodes(APP)[0]
    executor.migrate([node])
    return executor.loader.project_state(node).apps


@contextmanager
def migrated_back(using: str, target: tuple[str, str] = BEFORE) -> Iterator[Apps]:
    """The app migrated back to ``target`` (its models given), then forward again."""
    try:
        yield migrate(using, target)
    finally:
        migrate(using)


def write_release2(apps: Apps, using: str) -> None:
    """Write the rows of ``legacy/release2.json`` (new primary keys)."""
    models = {
        name: apps.get_model(APP, model)._default_manager.using(using)
        for name, model in (
            ("sessions", "StoredSession"),
            ("entries", "StoredEntry"),
            ("checkpoints", "StoredCheckpoint"),
        )
    }
    sessions = {
        fields["id"]: models["sessions"].create(**_decoded(fields))
        for fields in RELEASE2["sessions"]
    }
    for table in ("entries", "checkpoints"):
        models[table].bulk_create(
            models[table].model(
                **_decoded(fields, "session_id"), session=sessions[fields["session_id"]]
            )
            for fields in RELEASE2[table]
        )


def _decoded(fields: dict[str, Any], *drop: str) -> dict[str, Any]:
    """A row's fields as the model takes them: times parsed, without the
    primary key and ``drop``."""
    times = {"created_at", "updated_at", "expires_at", "deadline", "last_checkpoint_at"}
    return {
        k: datetime.fromisoformat(v) if k in times and v is not None else v
        for k, v in fields.items()
        if k not in ("id", *drop)
    }


def computed(path: list[Entry]) -> list[str | None]:
    """The checksums of ``path``'s entries computed from their digests (what
    an import stores)."""
    return [e.checksum for e in with_checksums(path)]


def path_checksum(session: Session) -> str | None:
    """The checksum of ``session``'s path, computed from its digests."""
    return computed(session.entries())[-1]


def check_every_branch(manager: SessionManager, session_id: str, owner: str) -> None:
    """Every entry of every branch carries the chained checksum of its path
    (the head is switched back after)."""
    s = manager.get(session_id, user_id=owner)
    head = s.head
    assert head is not None
    for branch in s.branches():
        s.switch(branch.leaf_id)
        path = s.entries()
        assert [e.checksum for e in path] == computed(path)
    s.switch(head)


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_the_release_before_path_checksums_migrates(using: str) -> None:
    with migrated_back(using) as apps:
        write_release2(apps, using)
    rows = StoredEntry.objects.using(using)
    assert rows.count() == len(RELEASE2["entries"])
    assert not rows.filter(checksum__isnull=True).exists()  # 0003 filled them all in
    with SessionManager(DjangoStore(using)) as manager:
        check_every_branch(manager, "release2", "alice")
        check_every_branch(manager, "release2-compacted", "bob")
        s = manager.get("release2", user_id="alice")
        assert len(s.messages()) == 44 and s.messages(limit=1)[0].data["content"] == "the end"
        (old,) = s.checkpoints()
        assert len(old.checksum) == 43  # the chained form
        s.restore(old.id)  # verifies the path against the old checkpoint
        assert [m.data["content"] for m in s.messages()] == [
            "Where is the report?",
            "In the shared folder.",
        ]
        assert s.state() == {"folder": "shared"}
        assert s.checkpoint("again").checksum == old.checksum  # read from the head
        s.append({"role": "user", "content": "new"})
        new = s.checkpoint("after")
        assert new.checksum == path_checksum(s)
        s.restore(new.id)
        c = manager.get("release2-compacted", user_id="bob")
        (before,) = c.checkpoints()
        c.restore(before.id)  # the path the compaction left a branch
        assert len(c.messages()) == 6
        c.append({"role": "user", "content": "on the old path"})
        after = c.checkpoint()
        assert after.checksum == path_checksum(c)
        c.restore(after.id)


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_rows_an_earlier_release_writes_after_the_migration(
    using: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process of the release before, still running after `migrate` (a
    # rolling deploy), writes rows with no checksum.
    write_release2(migrate(using), using)
    rows = StoredEntry.objects.using(using)
    with SessionManager(DjangoStore(using)) as manager:
        # More rows than one UPDATE writes, as that release would have left them.
        long = manager.create("assistant", user_id="carol")
        long.extend([{"role": "user", "content": f"m{n}"} for n in range(2 * BATCH + 1)])
        assert rows.filter(session__session_id=long.id).update(checksum=None) == 2 * BATCH + 1
        s = manager.get("release2", user_id="alice")
        assert {e.checksum for e in s.entries()} == {None}
        # A checkpoint reads the path instead: the same value.
        assert s.checkpoint().checksum == path_checksum(s)
        s.append({"role": "user", "content": "new"})  # fills in the path under it
        path = s.entries()
        assert [e.checksum for e in path] == computed(path)
        with CaptureQueriesContext(connections[using]) as again:
            s.append({"role": "user", "content": "and again"})
        assert len(again) == 6  # filled in once: an append as any other
        point = s.checkpoint()
        assert point.checksum == path_checksum(s)
        s.restore(point.id)
        assert rows.filter(checksum__isnull=True).exists()  # the other branches: not yet
        # Unapplying 0003 and applying it again fills in the rest (here
        # looking sessions up one at a time).
        monkeypatch.setattr(
            import_module(f"{APP}.integrations.django.migrations.{FILL}"), "SESSIONS", 1
        )
        with migrated_back(using, ADDED):
            pass
        assert not rows.filter(checksum__isnull=True).exists()
        check_every_branch(manager, "release2", "alice")
        check_every_branch(manager, "release2-compacted", "bob")
        check_every_branch(manager, long.id, "carol")


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_an_append_and_a_checkpoint_take_no_query_more(using: str) -> None:
    with SessionManager(DjangoStore(using)) as manager:
        s = manager.create("assistant")
        s.extend([{"role": "user", "content": f"m{n}"} for n in range(300)])
        with CaptureQueriesContext(connections[using]) as append:
            s.append({"role": "user", "content": "one more"})
        # BEGIN, the session row locked, the head's depth and checksum (one
        # SELECT), the INSERT, the session row's UPDATE, COMMIT: as before.
        assert len(append) == 6, [q["sql"] for q in append.captured_queries]
        with SessionManager(DjangoStore(using)) as other:  # knows no checkpoint
            fresh = other.get(s.id)
            with CaptureQueriesContext(connections[using]) as checkpoint:
                point = fresh.checkpoint()
        # The head alone (the session row, then one entry row), then the write.
        assert len(checkpoint) == 2 + 6, [q["sql"] for q in checkpoint.captured_queries]
        assert point.checksum == path_checksum(s)
        s.restore(point.id)  # verified against the path
