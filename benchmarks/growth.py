"""How checkpoint, restore, cold open and listing grow: 1k, 10k and 100k.

Per store (memory, file, SQLite; Redis and PostgreSQL on the servers of
``benchmarks.groups``, each in a scratch key prefix or schema dropped
afterwards), on one session of H messages (H = 1,000 / 10,000 / 100,000,
appended in batches of 1,000):

- *first checkpoint*: a checkpoint on a path that holds none, taken by a
  manager that knows no earlier one (a new manager on the same store): it
  reads the head's path checksum (``docs/design.md``, "Model"), where it
  once read the whole path. Each sample first moves the head to a new branch of
  the same length (the head's parent, plus one message; untimed), so no
  earlier sample's checkpoint is on the path, and starts with the CPU caches
  cold at every H (:func:`evict_caches`);
- *checkpoint*: the next checkpoint after 10 more appends, by the manager
  that took the last one (it goes on from it); the appends are not timed;
- *restore*: restore of a checkpoint at the head, every digest and the
  chain verified;
- *cold open + last 20*: a new process opens the store and reads the last 20
  messages (the file store replays the session's log), reported three ways:
  the whole process as the parent sees it (interpreter start included), the
  child's own time from its first line (imports, open, read), and the open
  and read alone;

and, per embedded store, the listing of 20 among N sessions (N = 1k / 10k / 100k, one
agent, one message each, 100 sessions a user): every session's, one user's, and
(file and SQLite) one user's as the first ``list()`` of a fresh process
(opening the store included, interpreter start and imports not).

Every figure is the median of ``--repeat`` samples (default 20), each timed
on its own; garbage collection stays on. The whole run takes about 6 minutes
on the 2-core machine for the embedded stores (``--tiers 1000,10000`` about
1 minute); the server stores add their fills (100,000 messages in batches):

    python -m benchmarks.growth [--tiers 1000,10000,100000] [--repeat 20]
                                [--only sessions,listing]
                                [--stores memory,file,sqlite,redis,postgres]

Tables in Markdown on stdout, raw figures in ``.bench/results-growth.json``;
``docs/benchmarks.md``, "Growth", quotes them.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentsession import Session, SessionManager
from agentsession.stores import MemoryStore

from .scratch import drop, scratch_url

ROOT = Path(__file__).resolve().parent.parent
STORES = ("memory", "file", "sqlite", "redis", "postgres")
EMBEDDED = ("memory", "file", "sqlite")
PER_USER = 100  # the listing tiers' sessions: this many a user

# A fresh interpreter: opens the store and reads the last 20 messages. Prints
# its own times: from its first line (imports included), and open + read.
OPEN_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from agentsession import SessionManager
t1 = time.perf_counter()
with SessionManager(sys.argv[1]) as m:
    got = m.get(sys.argv[2]).messages(limit=20)
    t2 = time.perf_counter()
assert len(got) == 20
print(json.dumps({"in_process": t2 - t0, "open_read": t2 - t1}))
"""

# A fresh interpreter: opens the store and lists one user's 20 newest sessions.
LIST_CHILD = """
import json, sys, time
from agentsession import SessionManager
t0 = time.perf_counter()
with SessionManager(sys.argv[1]) as m:
    rows = m.list("growth", user_id=sys.argv[2], limit=20)
    t1 = time.perf_counter()
assert len(rows) == 20
print(json.dumps({"open_list": t1 - t0}))
"""


_LINE = 64  # bytes in a cache line: writing one byte loads and dirties the line


def _cache_bytes() -> int:
    """The size of the CPU's largest cache (Linux sysfs), 64 MiB if unknown."""
    largest = 0
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        digits = text.rstrip("KM")
        if digits.isdigit():
            largest = max(largest, int(digits) * scale)
    return largest or 64 << 20


@functools.cache
def _sweep_buffer() -> bytearray:
    """A quarter again the largest cache (480 MiB of L3 on the 2-core machine),
    made on first use: the modules that import this one for ``samples`` do not
    pay for it."""
    return bytearray(_cache_bytes() * 5 // 4)


def evict_caches() -> None:
    """Leave the CPU caches in the same state whatever ran before (untimed).

    A first checkpoint is timed right after a new manager opened the session,
    and that open touches memory in proportion to H (the file store reads
    its snapshot: 23 ms at 100 000, 0.8 ms at 1 000). Without this, the
    sample at 100 000 started with cold caches and the one at 1 000 with
    warm ones, and the file store's checkpoint, which does the same work at
    every H, took 2.2x as long at 100 000 for that reason alone. Writing a
    byte of every line of a buffer larger than the largest cache pushes out
    what the open left there: every tier's sample starts cold, as a first
    call after an open may."""
    sweep = _sweep_buffer()
    sweep[::_LINE] = bytes(-(-len(sweep) // _LINE))  # one per line, a partial last one too


def samples(
    fn: Callable[[], Any], repeat: int, prepare: Callable[[], Any] | None = None
) -> list[float]:
    """``repeat`` timings of ``fn``, each after its untimed ``prepare``."""
    times = []
    for _ in range(repeat):
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def child(script: str, *args: str) -> tuple[float, dict[str, float]]:
    """Run ``script`` in a fresh interpreter: its wall time as seen from here
    (interpreter start included) and the times it printed."""
    # As installed code runs: from cached bytecode (pip compiles it at
    # install), not compiled in every process, whatever this shell says.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    wall = time.perf_counter() - start
    return wall, json.loads(out.stdout)


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _short(n: int) -> dict[str, Any]:
    return {"role": "user", "content": f"message {n}"}


def fill(session: Session, history: int, make: Callable[[int], dict[str, Any]] = _short) -> None:
    """Append messages ``make(0)`` to ``make(history - 1)``, 1,000 per write."""
    for start in range(0, history, 1000):
        session.extend([make(n) for n in range(start, min(start + 1000, history))])


def session_tier(name: str, url: str, history: int, repeat: int) -> dict[str, Any]:
    memory = MemoryStore() if name == "memory" else None
    store: Any = memory if memory is not None else url
    figures: dict[str, Any] = {}
    with SessionManager(store) as manager:
        s = manager.create("growth")
        fill(s, history)
        extra = iter(range(10**9))

        others: list[SessionManager] = []
        held: list[Session] = []

        def new_branch() -> None:
            # The head's parent, plus one message: a path of the same length
            # that holds none of the checkpoints taken so far; and the session
            # through a manager that knows no earlier checkpoint (a new one
            # over the same store). Opening it is not timed.
            parent = s.messages(limit=2)[0]
            s.switch(parent.id)
            s.append({"role": "user", "content": f"branch {next(extra)}"})
            close(others)
            others[:] = [manager.with_store(memory) if memory is not None else SessionManager(url)]
            held[:] = [others[0].get(s.id)]
            evict_caches()

        def close(managers: list[SessionManager]) -> None:
            if memory is None:  # a memory twin shares the store: not closed
                for other in managers:
                    other.close()

        figures["first_checkpoint"] = samples(lambda: held[0].checkpoint(), repeat, new_branch)
        close(others)
        s.checkpoint("base")
        figures["checkpoint"] = samples(
            s.checkpoint,
            repeat,
            prepare=lambda: s.extend([{"role": "user", "content": "more"}] * 10),
        )
        point = s.checkpoint("target")
        figures["restore"] = samples(lambda: s.restore(point.id), repeat)
        if memory is None:
            runs = [child(OPEN_CHILD, url, s.id) for _ in range(repeat)]
            figures["cold_process"] = [wall for wall, _ in runs]
            figures["cold_in_process"] = [got["in_process"] for _, got in runs]
            figures["cold_open_read"] = [got["open_read"] for _, got in runs]
    return figures


def listing_tier(name: str, url: str, count: int, repeat: int) -> dict[str, Any]:
    memory = MemoryStore() if name == "memory" else None
    figures: dict[str, Any] = {}
    with SessionManager(memory if memory is not None else url) as manager:
        for i in range(count):
            manager.create("growth", user_id=f"user{i // PER_USER}").append(
                {"role": "user", "content": f"hello {i}"}
            )
        figures["every"] = samples(lambda: manager.list("growth", limit=20), repeat)
        figures["one_user"] = samples(
            lambda: manager.list("growth", user_id="user7", limit=20), repeat
        )
    if memory is None:
        figures["one_user_cold"] = [
            child(LIST_CHILD, url, "user7")[1]["open_list"] for _ in range(repeat)
        ]
    return figures


def median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


# Each part: the name of its tier, how one tier is measured, and its columns
# (heading, key of the figures).
PARTS: dict[
    str, tuple[str, Callable[[str, str, int, int], dict[str, Any]], list[tuple[str, str]]]
] = {
    "sessions": (
        "H",
        session_tier,
        [
            ("first checkpoint", "first_checkpoint"),
            ("checkpoint (after 10 appends)", "checkpoint"),
            ("restore", "restore"),
            ("cold open + last 20: process", "cold_process"),
            ("in process", "cold_in_process"),
            ("open + read", "cold_open_read"),
        ],
    ),
    "listing": (
        "sessions",
        listing_tier,
        [
            ("list 20 of every session", "every"),
            ("list 20 of one user's", "one_user"),
            ("one user's, cold", "one_user_cold"),
        ],
    ),
}


def run_part(
    part: str, tiers: list[int], repeat: int, folder: Path, stores: list[str]
) -> list[dict[str, Any]]:
    tier, measure, columns = PARTS[part]
    print(f"| store | {tier} | " + " | ".join(heading for heading, _ in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    rows = []
    for name in stores:
        if part == "listing" and name not in EMBEDDED:
            continue  # the servers' listings: benchmarks.run
        for n in tiers:
            url = scratch_url(name, folder, f"{name}-{part}-{n}", "growth")
            try:
                figures = measure(name, url, n, repeat)
            finally:
                drop(url)
            rows.append({"store": name, tier: n, **figures})
            cells = [ms(median(figures.get(key))) for _, key in columns]
            print(f"| {name} | {n:,} | " + " | ".join(cells) + " |", flush=True)
            gc.collect()
    print()
    return rows


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """The speed targets the session tiers decide: (target, figure, met).

    A checkpoint ≤ 1 ms at every H on the embedded stores, and flat on every
    store (the largest H's at most 1.5x the smallest's), for the first
    checkpoint too; a verified restore ≤ 5 ms at 1,000 and ≤ 40 ms at 10,000
    on memory, file and SQLite; the open + read of a cold open ≤ 50 ms at
    the largest H on file and SQLite (a server store's is its connection's
    setup: reported, not judged)."""
    out: list[tuple[str, str, bool]] = []
    by_store: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_store.setdefault(row["store"], {})[row["H"]] = row
    for store, tiers in by_store.items():
        low, high = min(tiers), max(tiers)
        for key, label in (("first_checkpoint", "first checkpoint"), ("checkpoint", "checkpoint")):
            worst = max(median(t[key]) or 0.0 for t in tiers.values())
            if store in EMBEDDED:
                out.append((f"{store}: {label} ≤ 1 ms at every H", ms(worst), worst <= 1e-3))
            if high > low:
                a, b = median(tiers[low][key]) or 0.0, median(tiers[high][key]) or 0.0
                figure = f"{ms(b)} at {high:,} vs {ms(a)} at {low:,} = {b / a:.2f}x"
                out.append((f"{store}: {label} flat (≤ 1.5x)", figure, b <= 1.5 * a))
        for h, limit in ((1000, 5e-3), (10000, 40e-3)):
            if store in EMBEDDED and h in tiers:
                got = median(tiers[h]["restore"]) or 0.0
                label = f"{store}: verified restore ≤ {ms(limit)} at H = {h:,}"
                out.append((label, ms(got), got <= limit))
        if store in EMBEDDED and "cold_open_read" in tiers[high]:
            got = median(tiers[high]["cold_open_read"]) or 0.0
            label = f"{store}: cold open + last 20 (open + read) ≤ 50 ms at H = {high:,}"
            out.append((label, ms(got), got <= 50e-3))
    return out


def main(tiers: list[int], repeat: int, parts: list[str], stores: list[str]) -> None:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="growth-"))
    results: dict[str, Any] = {"repeat": repeat}
    try:
        for part in parts:
            results[part] = run_part(part, tiers, repeat, folder, stores)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if "sessions" in results:
        print("| target | figure | verdict |\n|---|---|---|")
        for target, figure, met in targets(results["sessions"]):
            print(f"| {target} | {figure} | {'met' if met else '**missed**'} |")
        print()
    elapsed = time.perf_counter() - started
    print(f"({elapsed / 60:.1f} min; medians of {repeat} samples)")
    results["elapsed_s"] = elapsed
    out = ROOT / ".bench" / "results-growth.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiers", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default="sessions,listing", help="sessions, listing or both")
    parser.add_argument("--stores", default=",".join(STORES))
    args = parser.parse_args()
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    if not set(chosen) <= PARTS.keys():
        parser.error("--only takes sessions, listing or both")
    kinds = [k.strip() for k in args.stores.split(",") if k.strip()]
    if not set(kinds) <= set(STORES):
        parser.error(f"--stores takes {', '.join(STORES)}")
    main([int(t) for t in args.tiers.split(",")], args.repeat, chosen, kinds)
