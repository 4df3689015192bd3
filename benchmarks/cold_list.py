"""Cold listing: a fresh interpreter opens the store and lists the 20 newest
sessions. Two ways to run it:

    python -m benchmarks.cold_list URL USER [--async] [--scope user|agent|all]
    python -m benchmarks.cold_list --tiers 10000,100000 [--runs 5] [--dir DIR]

The first is the child process (``benchmarks.run`` starts it): it prints one
JSON line, the first ``list()`` after ``open_store()`` (``first_s``) and a
second one (``second_s``). ``--scope``: one user's sessions of the agent
(default), the agent's sessions of every user, or every session.

The second populates a file store per tier (N sessions of one user, one
message each, as ``benchmarks.run`` does; kept in DIR and reused) and runs
the child ``--runs`` times per scope, printing medians and ranges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentsession import UNCHECKED, Unchecked

AGENT = "bench"
USER = "cold-user"
ROOT = Path(__file__).resolve().parent.parent


def _filters(scope: str, user: str) -> tuple[str | None, str | Unchecked]:
    if scope == "user":
        return AGENT, user
    return (AGENT if scope == "agent" else None), UNCHECKED


def _sync(url: str, user: str, scope: str) -> dict[str, float]:
    t0 = time.perf_counter()
    from agentsession import SessionManager, open_store

    agent, owner = _filters(scope, user)
    mgr = SessionManager(open_store(url))
    t1 = time.perf_counter()
    rows = mgr.list(agent, user_id=owner, limit=20)
    t2 = time.perf_counter()
    again = mgr.list(agent, user_id=owner, limit=20)
    t3 = time.perf_counter()
    mgr.close()
    assert len(rows) == 20 and [r.id for r in rows] == [r.id for r in again]
    return {"import_open_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2}


async def _async(url: str, user: str, scope: str) -> dict[str, float]:
    t0 = time.perf_counter()
    from agentsession import AsyncSessionManager, open_async_store

    agent, owner = _filters(scope, user)
    mgr = AsyncSessionManager(open_async_store(url))
    t1 = time.perf_counter()
    rows = await mgr.list(agent, user_id=owner, limit=20)
    t2 = time.perf_counter()
    again = await mgr.list(agent, user_id=owner, limit=20)
    t3 = time.perf_counter()
    await mgr.close()
    assert len(rows) == 20 and [r.id for r in rows] == [r.id for r in again]
    return {"import_open_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2}


def child(argv: list[str]) -> None:
    url, user = argv[0], argv[1]
    scope = next((a.split("=", 1)[1] for a in argv if a.startswith("--scope=")), "user")
    run_async = "--async" in argv
    out = asyncio.run(_async(url, user, scope)) if run_async else _sync(url, user, scope)
    print(json.dumps(out))


def populate(folder: Path, sessions: int) -> str:
    """A file store of ``sessions`` sessions of one user (made once, then reused)."""
    from agentsession import SessionManager

    done = folder / "populated"
    if not done.exists():
        with SessionManager(f"file://{folder}") as mgr:
            for i in range(sessions):
                mgr.create(AGENT, user_id=USER).append({"role": "user", "content": f"hello {i}"})
        done.write_text(str(sessions))
    return f"file://{folder}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def bench(tiers: list[int], runs: int, folder: Path) -> None:
    print("| sessions | listed | first `list()` (cold) | range | second `list()` |")
    print("|---|---|---|---|---|")
    for n in tiers:
        started = time.perf_counter()
        url = populate(folder / f"file-{n}", n)
        print(f"(tier {n:,}: ready in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        for scope in ("user", "agent", "all"):
            found = []
            for _ in range(runs):
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.cold_list", url, USER, f"--scope={scope}"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                found.append(json.loads(out.stdout.strip().splitlines()[-1]))
            first = [r["first_s"] for r in found]
            second = statistics.median(r["second_s"] for r in found)
            print(
                f"| {n:,} | {scope} | {ms(statistics.median(first))} "
                f"| {ms(min(first))}-{ms(max(first))} | {ms(second)} |",
                flush=True,
            )


def main(argv: list[str]) -> None:
    if not argv or not argv[0].startswith("--"):
        child(argv)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiers", default="10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the stores are made (kept)")
    args = parser.parse_args(argv)
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cold-list-"))
    bench([int(t) for t in args.tiers.split(",")], args.runs, folder)


if __name__ == "__main__":
    main(sys.argv[1:])
