"""Writes ``release2.json``: the rows the ORM store of the release before path
checksums (commit ec44eb8, migration 0001 only) wrote. Run with that
commit's code importable as ``agentsession``::

    git worktree add --detach /tmp/old ec44eb8
    mkdir -p /tmp/oldpkg/agentsession
    ln -s /tmp/old/core/* /tmp/old/integrations /tmp/oldpkg/agentsession/
    PYTHONPATH=/tmp/oldpkg python tests/integrations/django/legacy/make_release2.py

It migrates a fresh SQLite database, runs that release's ``SessionManager``
on its ``DjangoStore`` with a fixed clock, and dumps every row of the three
tables as the database holds them. Never run by the tests: they write these
rows into the test databases migrated back to 0001 (``test_path_checksums.py``).
"""

from __future__ import annotations

import functools
import itertools
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.core.management import call_command

HERE = Path(__file__).parent


def fill() -> None:
    from agentsession import SessionManager
    from agentsession.integrations.django.store import DjangoStore

    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    ticks = (start + timedelta(milliseconds=n) for n in itertools.count(1))
    with SessionManager(DjangoStore(), clock=functools.partial(next, ticks)) as manager:
        s = manager.create("assistant", user_id="alice", session_id="release2")
        s.extend(
            [
                {"role": "user", "content": "Where is the report?"},
                {"role": "assistant", "content": "In the shared folder."},
            ]
        )
        s.update_state({"folder": "shared"})
        answered = s.checkpoint("answered", {"note": "chained checksum"})
        s.append({"role": "user", "content": "And the slides?"})
        s.restore(answered.id)
        s.append({"role": "user", "content": "And the minutes?"})  # a branch
        s.extend([{"role": "user", "content": f"filler {n}"} for n in range(40)])
        s.append({"role": "assistant", "content": "the end"})
        # A second session, compacted: a new root beside the first path.
        c = manager.create("assistant", user_id="bob", session_id="release2-compacted")
        c.extend([{"role": "user", "content": f"old {n}"} for n in range(6)])
        c.checkpoint("before compaction")
        c.compact("a summary of the first four", upto=c.entries()[3].id)
        c.append({"role": "user", "content": "after the compaction"})


def rows(model: Any) -> list[dict[str, Any]]:
    found = []
    for row in model.objects.order_by("pk").values():
        found.append({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings.configure(
            INSTALLED_APPS=["agentsession.integrations.django"],
            DATABASES={
                "default": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(Path(folder) / "release2.sqlite3"),
                }
            },
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
        )
        django.setup()
        from agentsession.integrations.django.models import (
            StoredCheckpoint,
            StoredEntry,
            StoredSession,
        )

        if any(field.name == "checksum" for field in StoredEntry._meta.fields):
            raise SystemExit("run it with the code of commit ec44eb8 (see its docstring)")
        call_command("migrate", verbosity=0)
        fill()

        dump = {
            "sessions": rows(StoredSession),
            "entries": rows(StoredEntry),
            "checkpoints": rows(StoredCheckpoint),
        }
    (HERE / "release2.json").write_text(json.dumps(dump, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
