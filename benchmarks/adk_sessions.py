"""The ADK session service on agentsession stores beside ADK's own services.

Two reads an ADK app makes all the time, on each service:

- ``list_sessions`` with ``--sessions`` sessions of one app (spread over
  ``--users`` users): one user's sessions, and the whole app's;
- ``get_session(num_recent_events=20)`` on a session of ``--events`` events.

Peers: ADK's ``DatabaseSessionService`` on SQLite (``sqlite+aiosqlite``, a
file) and ``InMemorySessionService``. Each figure is the median of
``--samples`` timed calls after one untimed call; ratios are ours over the
peer's (below 1: ours is faster). Filling the services is not timed.

Run: ``python -m benchmarks.adk_sessions [--stores sqlite,memory,file,redis,postgres]``
(needs ``.[adk,redis,postgres]`` and benchmarks/requirements.txt; results in
``docs/adk.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from google.adk.events.event import Event
from google.adk.sessions import DatabaseSessionService, InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.genai import types

from agentsession.integrations.adk import AgentSessionService

from .report import fmt_time
from .scratch import drop, scratch_url

APP = "bench"


def ours(kind: str, folder: Path) -> tuple[str, str]:
    """(name, URL) of a fresh agentsession store of ``kind``."""
    names = {"memory": "memory", "sqlite": "SQLite", "file": "file", "redis": "Redis"}
    return f"agentsession {names.get(kind, 'PostgreSQL')}", scratch_url(
        kind, folder, "ours", "adkbench"
    )


async def fill(service: BaseSessionService, sessions: int, users: int, events: int) -> str:
    """``sessions`` sessions of APP over ``users`` users, and one more of
    ``events`` events (its id returned). A few concurrent writers."""

    async def make(start: int) -> None:
        for i in range(start, sessions, 8):
            await service.create_session(app_name=APP, user_id=f"user{i % users}")

    await asyncio.gather(*(make(w) for w in range(8)))
    long = await service.create_session(app_name=APP, user_id="reader")
    for i in range(events):
        author, role = ("user", "user") if i % 2 == 0 else ("bench", "model")
        text = f"message {i} " + "x" * 80
        content = types.Content(role=role, parts=[types.Part(text=text)])
        await service.append_event(long, Event(author=author, content=content))
    return long.id


async def median(call: Callable[[], Awaitable[Any]], samples: int) -> float:
    await call()  # untimed: connections open, caches warm
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def measure(
    service: BaseSessionService, sessions: int, users: int, events: int, samples: int
) -> tuple[float, float, float]:
    long = await fill(service, sessions, users, events)
    per_user = sessions // users

    async def list_user() -> None:
        found = await service.list_sessions(app_name=APP, user_id="user0")
        assert len(found.sessions) == per_user

    async def list_app() -> None:
        found = await service.list_sessions(app_name=APP)
        assert len(found.sessions) == sessions + 1

    config = GetSessionConfig(num_recent_events=20)

    async def recent() -> None:
        got = await service.get_session(
            app_name=APP, user_id="reader", session_id=long, config=config
        )
        assert got is not None and len(got.events) == 20

    return (
        await median(list_user, samples),
        await median(list_app, max(5, samples // 4)),
        await median(recent, samples),
    )


async def main(stores: list[str], sessions: int, users: int, events: int, samples: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="adk-bench-"))
    systems: dict[str, Callable[[], BaseSessionService]] = {
        "ADK DatabaseSessionService SQLite": lambda: DatabaseSessionService(
            f"sqlite+aiosqlite:///{folder / 'adk.db'}"
        ),
        "ADK InMemorySessionService": InMemorySessionService,
    }
    urls = []
    for kind in stores:
        name, url = ours(kind, folder)
        urls.append(url)
        systems[name] = lambda url=url: AgentSessionService(url)  # type: ignore[misc]
    per_user = sessions // users
    print(
        f"| service | list one user's {per_user} (of {sessions:,}) | list the app's {sessions:,}"
        f" | get_session(num_recent_events=20) at {events:,} events |"
        " ratios to ADK Database (SQLite) | ratios to ADK InMemory |"
    )
    print("|---|---|---|---|---|---|", flush=True)
    results: dict[str, tuple[float, float, float]] = {}
    for name, make in systems.items():
        service = make()
        try:
            results[name] = figures = await measure(service, sessions, users, events, samples)
        finally:
            close = getattr(service, "close", None)
            if close is not None:
                await close()
        db = results["ADK DatabaseSessionService SQLite"]
        mem = results.get("ADK InMemorySessionService", figures)
        to_db = " / ".join(f"{f / d:.2f}" for f, d in zip(figures, db, strict=True))
        to_mem = " / ".join(f"{f / m:.2f}" for f, m in zip(figures, mem, strict=True))
        cells = " | ".join(fmt_time(f) for f in figures)
        print(f"| {name} | {cells} | {to_db} | {to_mem} |", flush=True)
    for url in urls:
        drop(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", default="sqlite,memory,file,redis,postgres")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.stores.split(","), args.sessions, args.users, args.events, args.samples))
