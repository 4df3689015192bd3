"""Sessions to operate on: the same three for the command line, Flask and Django."""

from __future__ import annotations

from agentsession import SessionManager, Store


def seed(url: str | Store) -> dict[str, str]:
    """Three sessions: alice's with a branch, a checkpoint and state; bob's; an
    anonymous one, on a store URL or a store. Returns their ids by name."""
    with SessionManager(url) as manager:
        alice = manager.create("assistant", user_id="alice", metadata={"topic": "names"})
        alice.append({"role": "user", "content": "My name is Alice."})
        point = alice.checkpoint("named")
        alice.append({"role": "assistant", "content": "Hello Alice!"})
        alice.update_state({"greeted": True})
        alice.restore(point.id)
        alice.append({"role": "assistant", "content": "Hi there."})
        alice.update_state({"step": 2})
        bob = manager.create("helper", user_id="bob")
        bob.extend([{"role": "user", "content": f"question {i}"} for i in range(3)])
        anonymous = manager.create("assistant")
        anonymous.append({"role": "user", "content": "hello"})
        return {"alice": alice.id, "bob": bob.id, "anonymous": anonymous.id}
