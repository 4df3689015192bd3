"""Token windows: reading one costs the window, not the history.

Per store, one session of H messages (H = 100 / 10,000 / 100,000: the
200-character messages of ``benchmarks.workload``, appended 1,000 per
write), then, timed:

- ``messages(max_tokens=2000)``: the newest messages whose ``approx_tokens``
  add up to at most 2,000 (54 tokens a message here: 37 messages), read in
  pages of 16, 32, ... from the newest (``docs/design.md``, "Semantics");
- ``messages(limit=20)``: the last 20, for comparison.

Every figure is the median of ``--repeat`` samples (default 50; at least 20),
each timed on its own after one untimed call, garbage collection on; the
ratio of the largest history's figure to the smallest's says whether the read
grows with the history. Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432,
database ``test``) keys and schemas are removed afterwards.

    python -m benchmarks.window [--quick] [--stores memory,sqlite,file,redis,postgres]
                                [--tiers 100,10000,100000] [--repeat 50]

Tables in Markdown on stdout, raw figures in ``.bench/results-window.json``;
``docs/benchmarks.md``, "Token windows", quotes them.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from agentsession import SessionManager

from .growth import ROOT, fill, samples
from .harness import MIN_SAMPLES
from .report import fmt_time
from .scratch import drop, scratch_url
from .workload import message

STORES = ("memory", "sqlite", "file", "redis", "postgres")
MAX_TOKENS = 2000
LAST = 20


def tier(kind: str, directory: Path, history: int, repeat: int) -> dict[str, Any]:
    """Fill one session of ``history`` messages on a fresh store; time its reads."""
    url = scratch_url(kind, directory, f"window-{history}", "bench_window")
    figures: dict[str, Any] = {}
    try:
        with SessionManager(url) as manager:
            session = manager.create("window")
            started = time.perf_counter()
            fill(session, history, message)
            figures["fill_s"] = time.perf_counter() - started
            reads = {
                "window": partial(session.messages, max_tokens=MAX_TOKENS),
                "last": partial(session.messages, limit=LAST),
            }
            for key, call in reads.items():
                figures[f"{key}_size"] = len(call())  # untimed: connections, caches
                gc.collect()
                figures[key] = samples(call, repeat)
    finally:
        drop(url)
    return figures


def main(stores: list[str], tiers: list[int], repeat: int) -> None:
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    print(f"| store | H | {MAX_TOKENS}-token window | messages in it | last {LAST} |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="window-") as tmp:
        for kind in stores:
            for history in tiers:
                got = tier(kind, Path(tmp), history, repeat)
                rows.append({"store": kind, "H": history, **got})
                print(
                    f"| {kind} | {history:,} | {fmt_time(statistics.median(got['window']))} | "
                    f"{got['window_size']} | {fmt_time(statistics.median(got['last']))} |",
                    flush=True,
                )
    print()
    print(f"| store | window: H = {tiers[-1]:,} / H = {tiers[0]:,} | last {LAST}: same |")
    print("|---|---|---|")
    for kind in stores:
        mine = [r for r in rows if r["store"] == kind]
        low, high = mine[0], mine[-1]
        ratios = [
            statistics.median(high[key]) / statistics.median(low[key]) for key in ("window", "last")
        ]
        print(f"| {kind} | {ratios[0]:.2f}x | {ratios[1]:.2f}x |")
    elapsed = time.perf_counter() - started
    print(f"\n({elapsed / 60:.1f} min; medians of {repeat} samples)")
    out = ROOT / ".bench" / "results-window.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"repeat": repeat, "elapsed_s": elapsed, "rows": rows}, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small tiers")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--tiers", default="100,10000,100000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    chosen = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not set(chosen) <= set(STORES):
        parser.error(f"--stores takes {', '.join(STORES)}")
    tiers = [100, 1000] if args.quick else [int(t) for t in args.tiers.split(",")]
    if not args.quick and args.repeat < MIN_SAMPLES:
        parser.error(f"a published figure needs at least {MIN_SAMPLES} samples")
    main(chosen, tiers, 5 if args.quick else args.repeat)
