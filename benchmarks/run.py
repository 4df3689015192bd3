"""Run the store benchmarks and write the results into ``docs/benchmarks.md``.

    .venv-bench/bin/python -m benchmarks.run [--quick] [--only sqlite,redis] [--no-docs]

Results also go to ``.bench/results-stores.json`` (git-ignored); the docs table
is regenerated from that file between its markers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .adapters.base import Adapter
from .durability import apply_read_back
from .groups import Group, build_groups
from .harness import Config, Result, _call, about, run_workload
from .throughput import run_throughput
from .workload import message

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ["memory", "sqlite", "sqlite-full", "file", "redis", "postgres"]


def log(text: str) -> None:
    print(text, flush=True)


def wait_for_quiet(max_wait_s: float, threshold: float = 0.7) -> None:
    """Wait (up to ``max_wait_s``) for the 1-minute load average to fall below
    ``threshold``: other work on a 2-core machine moves every figure."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        log(f"waiting for a quiet machine: load average {os.getloadavg()[0]:.1f}")
        time.sleep(15)


def machine() -> dict[str, Any]:
    import sqlite3

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "date": time.strftime("%Y-%m-%d"),
        "load": os.getloadavg(),
        "reference_us": reference_us(),
    }


def reference_us() -> float:
    """The best time, in µs, of a fixed piece of Python: the canonical JSON
    and SHA-256 of one workload message, the work every append does. Runs on
    two machines compare by it: the same code's figures scale with it."""
    import hashlib
    import timeit

    msg = message(1)

    def work() -> str:
        text = json.dumps(msg, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    return min(timeit.repeat(work, number=2000, repeat=7)) / 2000 * 1e6


def warn_settings(adapter: Adapter, bad: list[str]) -> None:
    """Say loudly (log and stderr) that a system does not run at the intended level."""
    if not bad:
        return
    text = (
        f"!!! WARNING: {adapter.name} does not run at the intended durability: "
        f"{'; '.join(bad)}. Its figures are NOT at the same level as the others."
    )
    log(text)
    if sys.stderr is not sys.stdout:
        print(text, file=sys.stderr, flush=True)


async def _run_side_by_side(group: Group, cfg: Config) -> list[Result]:
    """Every system of the group open at once, each figure measured for all
    of them repeat by repeat (``harness``), then the throughput runs in turn."""
    t0 = time.perf_counter()
    opened: list[Adapter] = []
    try:
        for adapter in group.adapters:
            await _call(adapter, adapter.open)
            opened.append(adapter)
            read = await _call(adapter, adapter.read_settings)
            warn_settings(adapter, apply_read_back(adapter, read))
            log(f"  {adapter.name}: {adapter.durability}")
        results = await run_workload(opened, cfg, log, writes_only=group.writes_only)
        if group.throughput:
            for r in await run_throughput([a for a in opened if a.in_throughput], cfg):
                log(f"  {r.system:<44} {'16 clients':<18} {r.median_s:>10.0f} appends/s")
                results.append(r)
        return results
    finally:
        for adapter in reversed(opened):
            await _call(adapter, adapter.close)
        log(f"  ({group.name}: {time.perf_counter() - t0:.0f} s)")


def cold_listing(group: Group, cfg: Config) -> list[Result]:
    """Populate N sessions of one user, then list the newest 20 in fresh processes."""
    from .adapters.ours import Ours

    assert group.cold_url is not None
    user = "cold-user"
    # Same settings as our sync column of the group, read back on the listing's own file.
    like = next(a for a in group.adapters if a.role == "ours" and not a.is_async)
    filler = Ours(group.cold_url, group=group.name, durability=like.durability)
    filler.intended = like.intended
    filler.open()
    t0 = time.perf_counter()
    filler.populate_listing(cfg.list_sessions, user)
    filler.analyze()
    warn_settings(filler, apply_read_back(filler, filler.read_settings()))
    filler.close()
    log(f"  (populated {cfg.list_sessions} sessions in {time.perf_counter() - t0:.1f} s)")
    runs: list[dict[str, float]] = []
    for _ in range(cfg.cold_runs):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.cold_list", group.cold_url, user],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = []
    for key, op in (("first_s", "list20_cold"), ("second_s", "list20_warm")):
        values = [r[key] for r in runs]
        results.append(
            Result(
                **about(filler),  # named "agentsession <group> (sync)"
                mode="sync",
                op=op,
                param=cfg.list_sessions,
                median_s=statistics.median(values),
                low_s=min(values),
                high_s=max(values),
                ops=len(values),
                note="fresh process: first list() includes opening the connection",
            )
        )
        log(f"  agentsession {group.name:<31} {op:<18} {results[-1].median_s * 1e6:>10.1f} us")
    return results


def run_group(group: Group, cfg: Config) -> list[Result]:
    log(f"== {group.title}")
    for s in group.skipped:
        log(f"  skipped: {s}")
    results: list[Result] = []
    try:
        results.extend(asyncio.run(_run_side_by_side(group, cfg)))
        if group.cold_url is not None:
            results.extend(cold_listing(group, cfg))
    finally:
        if group.cleanup is not None:
            group.cleanup()
    return results


def _merge(path: Path, fresh: dict[str, Any], results: list[Result]) -> dict[str, Any]:
    """Groups run now replace the same groups of an earlier run; others are kept
    (the docs then say which command and date each group's figures come from)."""
    old: dict[str, Any] = {"groups": {}, "results": []}
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            old = json.loads(path.read_text())
    groups = {k: v for k, v in old.get("groups", {}).items() if k not in fresh}
    groups.update(fresh)
    rows = [r for r in old.get("results", []) if r["group"] not in fresh]
    rows += [dataclasses.asdict(r) for r in results]
    order = {name: i for i, name in enumerate(GROUPS)}
    return {
        "groups": dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], 99))),
        "results": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: few repeats, small H")
    p.add_argument("--only", default=",".join(GROUPS), help="comma-separated: " + ",".join(GROUPS))
    p.add_argument(
        "--sqlite-synchronous",
        default="NORMAL",
        help="the SQLite synchronous level the peers and floor are set to (match our store's)",
    )
    p.add_argument("--data-dir", default=str(ROOT / ".bench" / "data"))
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument(
        "--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for load < 0.7"
    )
    args = p.parse_args(argv)
    wait_for_quiet(args.wait_quiet)
    cfg = Config.make(args.quick)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(GROUPS)
    if unknown:
        p.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    data = Path(args.data_dir)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    load_before = os.getloadavg()
    if load_before[0] > 1.0:
        log(f"warning: load average {load_before[0]:.1f} before the run: figures will be noisy")
    started = time.perf_counter()
    groups = build_groups(names, data, args.sqlite_synchronous.upper())
    results: list[Result] = []
    for group in groups:
        results.extend(run_group(group, cfg))
    shutil.rmtree(data, ignore_errors=True)
    elapsed = time.perf_counter() - started
    command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    run_info = {
        "machine": dict(machine(), load_before=load_before),
        "command": command.strip(),
        "quick": cfg.quick,
        "elapsed_s": elapsed,
        "config": dataclasses.asdict(cfg),
    }
    fresh = {
        g.name: {
            "title": g.title,
            "skipped": g.skipped,
            "notes": [f"{a.name}: {a.note}" for a in g.adapters if a.note],
            "run": run_info,
        }
        for g in groups
    }
    payload = _merge(ROOT / ".bench" / "results-stores.json", fresh, results)
    out = ROOT / ".bench" / "results-stores.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(payload, indent=1))
    log(f"done in {elapsed:.0f} s; results in {out}")
    if not args.no_docs:
        from .report import write_store_section

        write_store_section(payload, ROOT / "docs" / "benchmarks.md")
        log("docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
