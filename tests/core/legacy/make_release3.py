"""Writes ``sessions-v3.db``: a SQLite file of the release before the search
queue (commit 744c3ae: schema version 3, every message indexed in its
append's own transaction). Run with that commit's code importable as
``agentsession``::

    git worktree add --detach /tmp/old3 744c3ae
    mkdir /tmp/old3pkg && ln -s /tmp/old3/core /tmp/old3pkg/agentsession
    PYTHONPATH=/tmp/old3pkg python tests/core/legacy/make_release3.py

Never run by the tests: they copy what it wrote.
"""

from __future__ import annotations

from make_release2 import HERE, fill  # type: ignore[import-not-found]  # the script beside this one

from agentsession import SessionManager


def main() -> None:
    db = HERE / "sessions-v3.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    fill(url)  # the session "release2", as the release before wrote it
    with SessionManager(url) as manager:
        other = manager.create("assistant", user_id="bob", session_id="release3")
        other.append({"role": "user", "content": "an otter swims by"})
    for extra in HERE.glob("sessions-v3.db-*"):  # WAL and shared memory: none after close
        extra.unlink()


if __name__ == "__main__":
    main()
