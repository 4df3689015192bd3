"""How checkpoint, restore, cold open and listing grow: 1k, 10k and 100k.

Per embedded store (memory, file, SQLite), on one session of H messages
(H = 1,000 / 10,000 / 100,000, appended in batches of 1,000):

- *first checkpoint*: the first one on that history (no earlier checkpoint
  to go on from: it reads the path once);
- *checkpoint*: one more after 10 appends (it goes on from the last one);
- *restore*: restore of that checkpoint, every digest and the chain verified;
- *cold open + last 20*: a new process opens the store and reads the last 20
  messages, timed from before ``import agentsession`` (the interpreter's own
  start is not counted) and, in brackets, from constructing the store, its
  modules imported (the file store reads the session's snapshot and replays
  the log after it), with the worst of the runs;

and the memory store's listing of 20 among N sessions (N = 1k / 10k / 100k,
over 1,000 users): every session's, and one user's.

Medians of ``--repeat`` runs (default 5; cold opens 3). Run:
``python -m benchmarks.growth [--tiers 1000,10000,100000] [--repeat 5]
[--stores memory,file,sqlite]``;
results in ``docs/benchmarks.md``, "Growth". Garbage collection stays on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentsession import SessionManager
from agentsession.stores import MemoryStore

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from agentsession import SessionManager, open_store
open_store(sys.argv[1]).close()  # the store's own modules: imported, not timed below
t1 = time.perf_counter()
with SessionManager(open_store(sys.argv[1])) as m:
    s = m.get(sys.argv[2])
    got = s.messages(limit=20)
    t2 = time.perf_counter()
assert len(got) == 20
print(json.dumps([t2 - t0, t2 - t1]))
"""


def median_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def session_tier(url: str, history: int, repeat: int, memory: MemoryStore | None) -> list[str]:
    store: Any = memory if memory is not None else url
    with SessionManager(store) as manager:
        s = manager.create("growth")
        for start in range(0, history, 1000):
            s.extend([{"role": "user", "content": f"message {start + i}"} for i in range(1000)])
        started = time.perf_counter()
        s.checkpoint("first")
        first = time.perf_counter() - started

        def again() -> None:
            s.extend([{"role": "user", "content": "more"}] * 10)
            s.checkpoint()

        # (includes the 10 appends; they are measured separately elsewhere)
        step = median_of(again, repeat)
        point = s.checkpoint("target")
        restore = median_of(lambda: s.restore(point.id), repeat)
        cold = "—"
        if memory is None:
            runs, inside = [], []
            for _ in range(3):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, url, s.id],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                total, in_process = json.loads(out.stdout)
                runs.append(total)
                inside.append(in_process)
            cold = (
                f"{ms(statistics.median(runs))} "
                f"({ms(statistics.median(inside))}, worst {ms(max(inside))})"
            )
        return [ms(first), ms(step), ms(restore), cold]


def listing_tier(count: int, repeat: int) -> list[str]:
    with SessionManager(MemoryStore()) as manager:
        for i in range(count):
            manager.create("growth", user_id=f"user{i % 1000}")
        every = median_of(lambda: manager.list(limit=20), repeat)
        mine = median_of(lambda: manager.list(user_id="user7", limit=20), repeat)
        return [ms(every), ms(mine)]


def main(tiers: list[int], repeat: int, stores: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="growth-"))
    columns = ["first checkpoint", "checkpoint (+10 appends)", "restore", "cold open + last 20"]
    print("| store | H | " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|")
    for name in stores:
        for h in tiers:
            url = {
                "memory": "memory://",
                "file": f"file://{folder / f'file-{h}'}",
                "sqlite": f"sqlite:///{folder / f'sqlite-{h}.db'}",
            }[name]
            row = session_tier(url, h, repeat, MemoryStore() if name == "memory" else None)
            print(f"| {name} | {h:,} | " + " | ".join(row) + " |", flush=True)
    print()
    print("| memory store, sessions | list 20 of every session | list 20 of one user's |")
    print("|---|---|---|")
    for n in tiers:
        print(f"| {n:,} | " + " | ".join(listing_tier(n, repeat)) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiers", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stores", default="memory,file,sqlite")
    args = parser.parse_args()
    main([int(t) for t in args.tiers.split(",")], args.repeat, args.stores.split(","))
