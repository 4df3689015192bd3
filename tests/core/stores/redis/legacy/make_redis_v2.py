"""Write ``redis-v2.json``: every key the Redis store of the release before
path checksums (commit ec44eb8) writes for a few sessions, dumped whole. Run
with THAT commit's code (``README.md`` beside this file says how); with
today's code it would write today's records instead, so it refuses to.

    python tests/core/stores/redis/legacy/make_redis_v2.py REDIS_URL OUT.json
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import redis

from agentsession import Entry, SessionManager
from agentsession.testing import FakeClock


def write_sessions(url: str) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with SessionManager(url, clock=clock) as manager:
        # One line of history: 30 messages, a state entry, a checkpoint, 30 more.
        linear = manager.create("assistant", user_id="alice", session_id="release2-linear")
        linear.extend([{"role": "user", "content": f"tide question {n}"} for n in range(30)])
        linear.update_state({"step": 1})
        linear.checkpoint("halfway", {"at": 30})
        linear.extend([{"role": "assistant", "content": f"tide answer {n}"} for n in range(30)])

        # A tree: a checkpoint, a branch from it, a second branch, a compaction
        # (a new root), a checkpoint on that root's path, and the head moved
        # back to the first branch.
        tree = manager.create("assistant", user_id="bob", session_id="release2-tree")
        first = tree.extend([{"role": "user", "content": f"moon {n}"} for n in range(8)])
        point = tree.checkpoint("eight")
        tree.extend([{"role": "assistant", "content": "first branch"}])
        branch_tip = tree.head
        tree.restore(point.id)
        tree.extend([{"role": "assistant", "content": "second branch"}])
        tree.append_entry("tool_result", {"output": "x" * 5_000})
        tree.compact("the moon so far", upto=first[5].id)
        tree.append({"role": "user", "content": "after the summary"})
        tree.checkpoint("compacted")
        assert branch_tip is not None
        tree.switch(branch_tip)

        # An empty session, and one by another agent with no owner.
        manager.create("assistant", user_id="alice", session_id="release2-empty")
        other = manager.create("helper", session_id="release2-helper")
        other.append({"role": "user", "content": "a tide table"})


def dump(client: Any, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix`` (named without it): its type and value."""
    out: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=prefix + "*", count=1000)):
        kind = client.type(key)
        if kind == "hash":
            value: Any = dict(sorted(client.hgetall(key).items()))
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            raise SystemExit(f"unexpected {kind} at {key}")
        assert client.pttl(key) == -1, f"{key} expires"
        out[key.removeprefix(prefix)] = {"type": kind, "value": value}
    return out


def main(url: str, out: str) -> None:
    if "checksum" in {f.name for f in fields(Entry)}:
        raise SystemExit("run this with the code of commit ec44eb8, not today's")
    prefix = f"legacy-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        write_sessions(f"{url}?key_prefix={prefix}")
        keys = dump(client, prefix)
    finally:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
        client.close()
    with open(out, "w", encoding="utf-8") as file:
        json.dump({"release": "ec44eb8", "keys": keys}, file, indent=1, sort_keys=True)
        file.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
