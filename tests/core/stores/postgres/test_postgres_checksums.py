"""PostgreSQL path checksums: data of the release before them (migration 3 and
its backfill), writers racing on one session, and rows moved by a release
that does not keep them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agentsession import SessionManager
from agentsession.store import Entry, canonical_json, chain_checksum, chain_steps, entry_digest

from . import test_postgres as shared
from .test_postgres import url_for

dsn, pg_schema, pg_url = shared.dsn, shared.pg_schema, shared.pg_url

LEGACY = Path(__file__).parents[2] / "legacy"


def load_release2(dsn: str, schema: str) -> None:
    """The schema ``make_postgres_v2.py`` dumped (written by the code of commit
    ec44eb8: migrations 1 and 2, no checksums), under the name ``schema``."""
    dump = (LEGACY / "postgres-v2.sql").read_text().replace("agentsession_release2", schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(dump.encode())


def stored_rows(dsn: str, schema: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every entry row (session pk, id, parent, digest, checksum) and every
    session row (pk, head, head_checksum, head_checksum_for)."""
    with psycopg.connect(dsn) as conn:
        entries = conn.execute(
            "SELECT session_pk, id, parent_id, digest, checksum "
            f'FROM "{schema}".agentsession_entry ORDER BY session_pk, depth'
        ).fetchall()
        sessions = conn.execute(
            "SELECT pk, head, head_checksum, head_checksum_for "
            f'FROM "{schema}".agentsession_session ORDER BY pk'
        ).fetchall()
    return entries, sessions


def versions(dsn: str, schema: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f'SELECT version FROM "{schema}".agentsession_migration')
        return sorted(v for (v,) in rows)


def assert_path_checksums(path: list[Entry]) -> None:
    """``path`` (root first) carries the chained checksum of each prefix."""
    assert [e.checksum for e in path] == chain_steps([e.digest for e in path], None)


def test_the_release_before_path_checksums_is_migrated(dsn: str, pg_schema: str) -> None:
    load_release2(dsn, pg_schema)
    assert versions(dsn, pg_schema) == [1, 2]
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        s = manager.get("release2", user_id="alice")
        assert versions(dsn, pg_schema) == [1, 2, 3, 4]
        assert len(s.messages()) == 404 and s.messages(limit=1)[0].data["content"] == "the end"
        for branch in s.branches():
            s.switch(branch.leaf_id)
            assert_path_checksums(s.entries())
        (old,) = s.checkpoints()
        assert len(old.checksum) == 43  # the chained form
        s.restore(old.id)  # verifies the path against the old checksum
        assert [m.data["content"] for m in s.messages()] == ["My name is Alice.", "Hello Alice!"]
        assert s.checkpoint("again").checksum == old.checksum  # read from the head
        s.append({"role": "user", "content": "new"})
        new = s.checkpoint("after")
        assert new.checksum == chain_checksum(e.digest for e in s.entries())
        s.restore(new.id)

        # Compacted before: a second root, a checkpoint on each side of it.
        c = manager.get("compacted", user_id="bob")
        assert len(c.branches()) == 2
        for branch in c.branches():
            c.switch(branch.leaf_id)
            assert_path_checksums(c.entries())
        before, after = c.checkpoints()
        c.restore(before.id)
        assert [m.data["n"] for m in c.messages()] == [1e16] * 6
        c.restore(after.id)
        assert c.entries()[0].data["role"] == "system"  # the compaction's root
        c.append({"role": "user", "content": "later"})
        assert c.checkpoint().checksum == chain_checksum(e.digest for e in c.entries())

        e = manager.get("empty")
        first = e.append({"role": "user", "content": "a first message"})
        assert first.checksum == chain_checksum([first.digest])

    # Every row got its checksum, each from its parent's; every session row
    # names its head's.
    entries, sessions = stored_rows(dsn, pg_schema)
    sums: dict[tuple[int, str], str] = {}
    for pk, id_, parent, digest, checksum in entries:
        base = None if parent is None else sums[pk, parent]
        [sums[pk, id_]] = chain_steps([digest], base)
        assert checksum == sums[pk, id_]
    # release2: 406 + 1; compacted: 6, 3 written by the compaction, 2 after;
    # empty: 1.
    assert len(entries) == 407 + 11 + 1
    for pk, head, head_checksum, head_for in sessions:
        assert (head_checksum, head_for) == (sums[pk, head], head)


def test_a_database_migrated_to_checksums_restores_after_reopening(
    dsn: str, pg_schema: str
) -> None:
    load_release2(dsn, pg_schema)
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        s = manager.get("release2", user_id="alice")
        point = s.checkpoint("kept")
    with SessionManager(url_for(dsn, pg_schema)) as manager:
        s = manager.get("release2", user_id="alice")
        assert s.entries()[-1].checksum == point.checksum
        s.append({"role": "user", "content": "more"})
        s.restore(point.id)
        (old, *_) = s.checkpoints()
        s.restore(old.id)


def test_writers_racing_on_one_session_chain_on_the_head_they_lock(pg_url: str) -> None:
    # Each append waits for the others' row lock and then goes on from the row
    # as they left it: its checksum must chain on their entries, which its
    # statement's snapshot does not see.
    with SessionManager(pg_url) as manager:
        session = manager.create("assistant")

        def work(worker: int) -> None:
            mine = manager.get(session.id)
            for n in range(60):
                if n % 10 == 0:
                    mine.extend([{"role": "user", "content": f"{worker}-{n}-{k}"} for k in (1, 2)])
                else:
                    mine.append({"role": "user", "content": f"{worker}-{n}"})

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        path = session.entries()
        assert len(path) == 4 * 66
        assert_path_checksums(path)
        assert session.checkpoint().checksum == path[-1].checksum


def test_a_head_moved_by_a_release_without_checksums_is_not_chained_on(
    dsn: str, pg_schema: str, pg_url: str
) -> None:
    with SessionManager(pg_url) as manager:
        s = manager.create("assistant")
        s.extend([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
        root = s.entries()[0]
    # What the release before does on an append: an entry without a checksum,
    # and head, depth and count moved on the row, the checksum columns left.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path = "{pg_schema}"')
        conn.execute(
            "INSERT INTO agentsession_entry (session_pk, id, parent_id, kind, created_at, "
            "data, depth, message_index, digest) SELECT s.pk, 'written-by-old', s.head, "
            "'state', now(), '{}', s.head_depth + 1, s.message_count, %s "
            "FROM agentsession_session AS s WHERE s.id = %s",
            (entry_digest("state", canonical_json({})), s.id),
        )
        conn.execute(
            "UPDATE agentsession_session SET head = 'written-by-old', "
            "head_depth = head_depth + 1, max_depth = max_depth + 1, tip = 'written-by-old', "
            "revision = revision + 1 WHERE id = %s",
            (s.id,),
        )
    with SessionManager(pg_url) as manager:
        s = manager.get(s.id)
        # Not known, so none: not the checksum of another entry chained on.
        new = s.append({"role": "user", "content": "three"})
        assert new.checksum is None and s.entries()[-1].checksum is None
        point = s.checkpoint()  # reads the path instead
        assert point.checksum == chain_checksum(e.digest for e in s.entries())
        s.append({"role": "user", "content": "four"})
        s.restore(point.id)
        # A head this release moves is known again.
        s.switch(root.id)
        again = s.append({"role": "user", "content": "again"})
        assert again.checksum == chain_checksum([root.digest, again.digest])


@pytest.mark.parametrize("bad", ["", "too short", "*" * 43])
def test_a_damaged_head_checksum_is_not_chained_on(
    dsn: str, pg_schema: str, pg_url: str, bad: str
) -> None:
    with SessionManager(pg_url) as manager:
        s = manager.create("assistant")
        s.append({"role": "user", "content": "one"})
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                f'UPDATE "{pg_schema}".agentsession_session SET head_checksum = %s WHERE id = %s',
                (bad, s.id),
            )
        new = s.append({"role": "user", "content": "two"})  # appends go on
        assert new.checksum is None
        assert s.checkpoint().checksum == chain_checksum(e.digest for e in s.entries())
