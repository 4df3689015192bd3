"""The agentsession runtime with a plain function as the agent.

Run it twice: the second run remembers the first. The store is
``AGENTSESSION_STORE_URL`` (default: SQLite under ``~/.agentsession``)::

    python -m example_projects.agents.runtime_chat "My name is Ann."
    python -m example_projects.agents.runtime_chat "Who am I?"
"""

from __future__ import annotations

import sys

from agentsession import Session, SessionManager, current_session


def remember(text: str, session: Session) -> str:
    """An offline agent: it answers from the conversation so far."""
    assert current_session() is session  # tools can find the session too
    said = [m.data["content"] for m in session.messages() if m.data["role"] == "user"]
    return (
        f"You said {len(said)} thing(s) before this; the first was {said[0]!r}."
        if said
        else (f"Nice to meet you. I will remember {text!r}.")
    )


def main(text: str) -> str:
    with SessionManager() as sessions:
        # The application names the conversation; attach() creates it on first use.
        session = sessions.attach("runtime-demo", "remember", user_id="ann")
        turn = session.run(remember, text)  # the message and the reply: one write
        return turn.reply or ""


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "Hello"))
