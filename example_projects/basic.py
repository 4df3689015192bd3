"""agentsession in one script: history, checkpoints, branches, and a restart.

Step 7 closes the store and opens it again, as a restarted process would. Run
it twice to see a real restart::

    python example_projects/basic.py      # creates the conversation, reopens the store
    python example_projects/basic.py      # a new process finds it again

The store is a SQLite file in ``example_projects/data/`` unless
``AGENTSESSION_STORE_URL`` names another one (``redis://...``, ``postgresql://...``).
Delete that file (or pass ``--fresh``) to start over.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agentsession import Session, SessionManager, current_session, use_session

AGENT = "basic-demo"
USER = "alice"
DATA_DIR = Path(__file__).resolve().parent / "data"


def store_url() -> str:
    """``AGENTSESSION_STORE_URL`` if set, else a SQLite file beside this script."""
    url = os.environ.get("AGENTSESSION_STORE_URL")
    if url:
        return url
    DATA_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{DATA_DIR / 'basic.db'}"  # an absolute path: sqlite:////abs/basic.db


def step(title: str) -> None:
    print(f"\n== {title}")


def show(session: Session) -> None:
    for entry in session.messages():
        print(f"   {entry.data['role']:>9}: {entry.data['content']}")


def remember(text: str) -> None:
    """Deep inside an agent: no session argument, the context carries it."""
    session = current_session()
    assert isinstance(session, Session)  # a sync session here (async code gets AsyncSession)
    session.append({"role": "assistant", "content": text})


def main(argv: list[str]) -> None:
    url = store_url()
    with SessionManager(url) as sessions:
        if "--fresh" in argv:
            for old in sessions.list(AGENT, user_id=USER):
                sessions.delete(old.id)

        step("1. Find Alice's conversation, or start one")
        found = sessions.list(AGENT, user_id=USER, limit=1)
        if found:
            session = sessions.get(found[0].id, user_id=USER)
            print(f"   Found it after a restart: {session.message_count} messages so far.")
            show(session)
            session.append({"role": "user", "content": "I'm back."})
            print(f"   Appended one more: {session.message_count} messages now.")
            print("\n   All of this came back from the store. Run with --fresh to start over.")
            return
        session = sessions.create(AGENT, user_id=USER, metadata={"title": "basic.py"})
        print(f"   New session for {session.user_id!r} (agent {session.agent!r}).")

        step("2. Append messages (each write is atomic and durable)")
        session.append({"role": "user", "content": "Hi! My name is Alice."})
        session.append({"role": "assistant", "content": "Nice to meet you, Alice."})
        session.extend(
            [
                {"role": "user", "content": "My favourite colour is green."},
                {"role": "assistant", "content": "Green it is."},
            ]
        )
        show(session)

        step("3. Checkpoint, go on, then restore")
        point = session.checkpoint("before the detour")
        session.append({"role": "user", "content": "Actually, forget that: it is red."})
        session.append({"role": "assistant", "content": "Red, noted."})
        print(f"   After the detour: {session.message_count} messages.")
        session.restore(point.id)
        print(f"   Restored {point.name!r}: {session.message_count} messages, the detour is gone:")
        show(session)

        step("4. Nothing was deleted: the detour is a branch you can switch to")
        session.append({"role": "user", "content": "Let's talk about cats instead."})
        session.append({"role": "assistant", "content": "Cats it is."})
        print("   Said after the restored point (a new branch):")
        show(session)
        for branch in session.branches():
            mark = "* current" if branch.is_current else "         "
            print(f"   {mark} branch ending {branch.leaf_id[:8]}: {branch.message_count} messages")
        current = session.head
        detour = next(b for b in session.branches() if not b.is_current)
        session.switch(detour.leaf_id)
        print("   Switched to the detour:")
        show(session)
        assert current is not None
        session.switch(current)
        print("   ... and back.")

        step("5. State travels with the branch too")
        session.update_state({"mood": "curious"})
        print(f"   state = {session.state()}")

        step("6. Context helpers: use_session() / current_session()")
        with use_session(session):
            remember("(written through current_session())")
        show(session)

    step("7. Restart: the store is closed; a new manager opens the same file")
    with SessionManager(url) as reopened:
        again = reopened.get(session.id, user_id=USER)
        print(f"   Found it again: {again.message_count} messages, state = {again.state()}")
        show(again)

    print("\nDone. Run this script again: the conversation will still be there.")


if __name__ == "__main__":
    main(sys.argv[1:])
