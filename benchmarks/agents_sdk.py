"""The OpenAI Agents SDK's ``Runner`` on our session beside the SDK's own.

Two measurements, each on SQLite (a file) and Redis (127.0.0.1:6379):

- a 20-turn ``Runner.run`` conversation with the SDK's ``ScriptedModel`` (no
  network; the same model script and turns for every session): time per turn,
  and the share of it spent in the session's methods;
- ``get_items(limit=100)`` on a conversation of 10,000 items.

Run: ``python -m benchmarks.agents_sdk [--turns 20] [--items 10000] [--repeat 5]``
(needs ``.[openai-agents,redis]``; results in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio
from agents import Agent, Runner, SQLiteSession, set_tracing_disabled
from agents.extensions.memory.redis_session import RedisSession
from agents.testing import ScriptedModel, assistant_message

from agentsession import AsyncSessionManager
from agentsession.integrations.openai_agents import OpenAIAgentsSession

REDIS = "redis://127.0.0.1:6379/0"


class Timed:
    """A session whose four calls are timed (the SDK sees the same protocol)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.spent = inner, 0.0
        self.session_id = inner.session_id
        self.session_settings = getattr(inner, "session_settings", None)

    async def _timed(self, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        try:
            return await call
        finally:
            self.spent += time.perf_counter() - start

    async def get_items(self, limit: int | None = None) -> Any:
        return await self._timed(self.inner.get_items(limit))

    async def add_items(self, items: Any) -> None:
        await self._timed(self.inner.add_items(items))

    async def pop_item(self) -> Any:
        return await self._timed(self.inner.pop_item())

    async def clear_session(self) -> None:
        await self._timed(self.inner.clear_session())


async def conversation(session: Any, turns: int) -> tuple[float, float]:
    """Mean seconds per turn, and the session's share of them."""
    model = ScriptedModel([[assistant_message(f"answer {i}")] for i in range(turns)])
    agent = Agent[Any](name="bench", model=model)
    timed = Timed(session)
    start = time.perf_counter()
    for i in range(turns):
        await Runner.run(agent, f"question {i}", session=timed)
    total = time.perf_counter() - start
    return total / turns, timed.spent / total


async def last_100(session: Any, items: int, repeat: int) -> float:
    """Median seconds of get_items(limit=100) on ``items`` items."""
    batch = [{"role": "user", "content": f"message {i} " + "x" * 60} for i in range(1000)]
    for _ in range(items // 1000):
        await session.add_items(batch)
    await session.get_items(limit=100)  # warm
    times = []
    for _ in range(repeat * 20):
        start = time.perf_counter()
        got = await session.get_items(limit=100)
        times.append(time.perf_counter() - start)
    assert len(got) == 100
    return statistics.median(times)


async def main(turns: int, items: int, repeat: int) -> None:
    set_tracing_disabled(True)
    folder = Path(tempfile.mkdtemp(prefix="agents-bench-"))
    prefix = f"bench:{secrets.token_hex(4)}:"
    client = redis.asyncio.Redis.from_url(REDIS)
    ours_sqlite = AsyncSessionManager(f"sqlite:///{folder / 'ours.db'}")
    ours_redis = AsyncSessionManager(f"{REDIS}?key_prefix={prefix}")

    makers: dict[str, Callable[[str], Any]] = {
        "agentsession SQLite": lambda sid: OpenAIAgentsSession(sid, ours_sqlite),
        "SDK SQLiteSession": lambda sid: SQLiteSession(sid, folder / "sdk.db"),
        "agentsession Redis": lambda sid: OpenAIAgentsSession(sid, ours_redis),
        "SDK RedisSession": lambda sid: RedisSession(
            sid, redis_client=client, key_prefix=prefix + "sdk"
        ),
    }
    read_column = f"get_items(100) at {items:,}, ms"
    print(f"| session | per turn ({turns} turns), ms | session share | {read_column} |")
    print("|---|---|---|---|")
    try:
        for name, make in makers.items():
            per_turn, shares = [], []
            for r in range(repeat):
                mean, share = await conversation(make(f"conv{r}"), turns)
                per_turn.append(mean)
                shares.append(share)
            read = await last_100(make("big"), items, repeat)
            print(
                f"| {name} | {statistics.median(per_turn) * 1e3:.2f} |"
                f" {statistics.median(shares):.0%} | {read * 1e3:.3f} |"
            )
    finally:
        await ours_sqlite.close()
        await ours_redis.close()
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.items, args.repeat))
