"""Writes ``postgres-v2.sql``: a PostgreSQL schema as the release before path
checksums left it (commit ec44eb8: migrations 1 and 2, entries and session
rows without checksums). Run with that commit's code importable as
``agentsession``, against a server where the schema ``agentsession_release2``
may be created and dropped::

    git worktree add --detach /tmp/old ec44eb8
    mkdir /tmp/oldpkg && ln -s /tmp/old/core /tmp/oldpkg/agentsession
    PYTHONPATH=/tmp/oldpkg python tests/core/legacy/make_postgres_v2.py [DSN]

The file is ``pg_dump`` of that schema (plain SQL, inserts; without the
``\\restrict`` lines, which only psql reads). Never run by the
tests: they load what it wrote, under a schema name of their own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
from make_release2 import (  # type: ignore[import-not-found]  # the script beside this one
    Clock,
)
from make_release2 import fill as fill_release2

from agentsession import SessionManager

HERE = Path(__file__).parent
SCHEMA = "agentsession_release2"


def fill(url: str) -> None:
    # The session of the SQLite and file-store data, written the same way.
    fill_release2(url)
    with SessionManager(url, clock=Clock()) as manager:
        # A compacted one: a second root, a checkpoint on each side of it.
        c = manager.create("assistant", user_id="bob", session_id="compacted")
        c.extend([{"role": "user", "content": f"turn {n}", "n": 1e16, "z": -0.0} for n in range(6)])
        c.checkpoint("before compaction")
        upto = c.entries()[3].id
        c.compact("the first four turns", upto=upto)
        c.append({"role": "assistant", "content": "after the compaction"})
        c.checkpoint("after compaction")
        manager.create("assistant", session_id="empty")


def main() -> None:
    dsn = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    try:
        fill(f"{dsn}?schema={SCHEMA}")
        dump = subprocess.run(
            ["pg_dump", "--schema", SCHEMA, "--no-owner", "--no-privileges", "--inserts",
             "--rows-per-insert=100", dsn],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        # psql's \\restrict guard lines (a random key each dump) are no SQL.
        lines = [ln for ln in dump.splitlines(keepends=True) if not ln.startswith("\\")]
        (HERE / "postgres-v2.sql").write_text("".join(lines))
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
