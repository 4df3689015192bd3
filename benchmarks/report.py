"""Results -> the markdown tables in ``docs/benchmarks.md``.

The generated part sits between ``<!-- stores:begin -->`` and
``<!-- stores:end -->`` (middleware: ``<!-- middleware:... -->``); everything
outside the markers is written by hand and kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .targets import check_targets

__all__ = ["fmt_time", "replace_section", "store_tables", "write_store_section"]

_OPS = [
    ("create", None, "create + first append"),
    ("append", 0, "append, H = 0"),
    ("append", 100, "append, H = 100"),
    ("append", 1_000, "append, H = 1 000"),
    ("append", 10_000, "append, H = 10 000"),
    ("last100", 100, "last 100 of H = 100"),
    ("last100", 1_000, "last 100 of H = 1 000"),
    ("last100", 10_000, "last 100 of H = 10 000"),
    ("all", 1_000, "all 1 000"),
    ("checkpoint", 1_000, "checkpoint, H = 1 000"),
    ("restore", 1_000, "restore (verified), H = 1 000"),
]
_ROLE_ORDER = {"ours": 0, "peer": 1, "floor": 2}


def fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    if us < 10:
        return f"{us:.1f} µs"
    if us < 1_000:
        return f"{us:.0f} µs"
    if us < 100_000:
        return f"{us / 1_000:.2f} ms"
    return f"{us / 1_000:.0f} ms"


def _ratio(x: float) -> str:
    return f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def _column(name: str, mode: str) -> str:
    return name if name.endswith(("(sync)", "(async)")) else f"{name} ({mode})"


def _systems(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(system, role, mode, durability) in column order: ours, peers, floors."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    for r in rows:
        if r["op"].startswith("list20") or r["op"] == "throughput16":
            continue
        seen.setdefault(r["system"], (r["system"], r["role"], r["mode"], r["durability"]))
    return sorted(seen.values(), key=lambda s: (_ROLE_ORDER[s[1]], s[2] != "sync"))


def _index(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int | None], dict[str, Any]]:
    return {(r["system"], r["op"], r["param"]): r for r in rows}


def _ours_for(mode: str, systems: list[tuple[str, str, str, str]]) -> str | None:
    """Our system in the same mode (sync/async) as a peer, else our sync one."""
    ours = [s for s in systems if s[1] == "ours"]
    for s in ours:
        if s[2] == mode:
            return s[0]
    return ours[0][0] if ours else None


def store_tables(group: str, rows: list[dict[str, Any]]) -> list[str]:
    systems = _systems(rows)
    idx = _index(rows)
    out: list[str] = []
    heads = ["operation"]
    for name, _role, mode, _dur in systems:
        heads.append(_column(name, mode))
    out.append("| " + " | ".join(heads) + " |")
    out.append("|" + "---|" * len(heads))
    for op, param, label in _OPS:
        if not any((s[0], op, param) in idx for s in systems):
            continue
        cells = [label]
        for name, role, mode, _dur in systems:
            r = idx.get((name, op, param))
            if r is None:
                cells.append("—")
                continue
            cell = fmt_time(r["median_s"])
            ours = _ours_for(mode, systems)
            mine = idx.get((ours, op, param)) if ours else None
            if role == "peer" and mine:
                cell += f" ({_ratio(r['median_s'] / mine['median_s'])})"
            elif role == "floor" and mine:
                cell += f" (ours {_ratio(mine['median_s'] / r['median_s'])})"
            cells.append(cell)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Durability of each column:")
    out.append("")
    for name, _role, mode, dur in systems:
        out.append(f"- {_column(name, mode)}: {dur}")
    tp = [r for r in rows if r["op"] == "throughput16"]
    if tp:
        out.append("")
        out.append(
            f"Throughput, {tp[0]['param']} concurrent async clients appending to "
            f"{tp[0]['param']} sessions through one store object (median of repeats):"
        )
        out.append("")
        out.append("| system | appends/s | range |")
        out.append("|---|---|---|")
        tp.sort(key=lambda r: (_ROLE_ORDER[r["role"]], -r["median_s"]))
        for r in tp:
            out.append(
                f"| {_column(r['system'], r['mode'])} | {r['median_s']:,.0f} | "
                f"{r['low_s']:,.0f}-{r['high_s']:,.0f} |"
            )
    cold = [r for r in rows if r["op"].startswith("list20")]
    if cold:
        out.append("")
        n = cold[0]["param"]
        out.append(f"Listing the 20 newest of {n:,} sessions of one user, in a fresh process:")
        out.append("")
        if cold[0].get("durability"):
            out.append(f"- durability: {cold[0]['durability']}")
        for r in cold:
            what = "first `list()` (cold)" if r["op"] == "list20_cold" else "second `list()`"
            out.append(
                f"- {what}: {fmt_time(r['median_s'])} "
                f"(range {fmt_time(r['low_s'])}-{fmt_time(r['high_s'])}, {r['ops']} processes)"
            )
    return out


def replace_section(path: Path, name: str, body: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        pattern = re.escape(begin) + r".*?" + re.escape(end)
        text = re.sub(pattern, lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def _run_line(run: dict[str, Any]) -> str:
    m = run["machine"]
    before = m.get("load_before", (0.0,))[0]
    after = m.get("load", (0.0,))[0]
    # Runs before the reference was measured have none.
    reference = f", reference {m['reference_us']:.2f} µs" if "reference_us" in m else ""
    return (
        f"{m['date']}, {m['cores']} cores ({m['cpu']}), {m['implementation']} {m['python']}, "
        f"SQLite {m['sqlite']}, 1-minute load average {before:.1f} before, {after:.1f} after"
        f"{reference}; command "
        f"`.venv-bench/bin/{run['command']}` ({run['elapsed_s'] / 60:.1f} min"
        + (", **quick mode: smoke figures, not results**" if run["quick"] else "")
        + ")"
    )


def write_store_section(payload: dict[str, Any], path: Path) -> None:
    runs: dict[str, list[str]] = {}
    for name, g in payload["groups"].items():
        runs.setdefault(_run_line(g["run"]), []).append(name)
    lines = []
    for line, names in runs.items():
        scope = "" if len(runs) == 1 else f" ({', '.join(names)})"
        lines.append(f"- Run{scope}: {line}.")
    lines += [
        "",
        "Each figure is the median over repeats of the per-operation median "
        "(operations timed one by one). After a peer, `Nx` = the peer takes N times as "
        "long as agentsession in the same mode (sync with sync, async with async); after a "
        "floor, `ours Nx` = agentsession takes N times as long as the floor.",
    ]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in payload["results"]:
        by_group.setdefault(r["group"], []).append(r)
    for name, g in payload["groups"].items():
        rows = by_group.get(name)
        lines += ["", f"### {g['title']}", ""]
        if rows:
            lines += store_tables(name, rows)
            lines.append("")
        for note in sorted(set(g["notes"])):
            lines.append(f"- note: {note}")
        for s in g["skipped"]:
            lines.append(f"- not measured: {s}")
    lines += ["", "### Targets", ""]
    lines += check_targets(payload["results"])
    replace_section(path, "stores", "\n".join(lines))
