"""The speed targets (docs/benchmarks.md, Targets), checked against a run's results.

Every row gives the target, the figure it was judged on, met / missed and,
for a miss, the reason. The reasons are kept here (short) and in
``docs/benchmarks.md`` under "Why a target is missed" (with the figures of the
published run); a miss nobody has explained says so in capitals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .durability import describe

__all__ = ["REASONS", "UNEXPLAINED", "check_targets", "table_row"]

Rows = list[dict[str, Any]]

HS = (0, 100, 1_000, 10_000)
LAST_HS = (100, 1_000, 10_000)
EMBEDDED = ("memory", "sqlite", "sqlite-full", "file")

UNEXPLAINED = (
    "**NO REASON RECORDED**: explain it (the script's `REASONS` and "
    "docs/benchmarks.md, “Why a target is missed”) or fix it"
)

# Why a target is missed, by "<kind>" or "<kind>:<group or peer>" (the most
# specific key wins). The published figures behind them are in the docs.
REASONS = {
    "sqlite-2x": (
        "A lone caller's async append runs on the event loop at once when nothing else is "
        "ready there (no group, no turn of the loop), so it costs our sync append plus the "
        "async layers (3-7 µs); before that, it took a turn of the loop and a group of one "
        "(20-25 µs). The sync append is one transaction: the session row (and its four "
        "listing indexes), the entry (and its two indexes) and its search-queue row, about "
        "ten WAL pages. Timed by statement on the 2026-12-05 night run's machine, its SQL "
        "took about 58 µs (COMMIT 35, the row read 6, the UPDATE 6, BEGIN 6, the INSERT 4, "
        "the queue row 2), the Python work about 40-45 (the session layer, canonical JSON, "
        "digest, chain step, placement, the row and the records). SQLiteSession's append is "
        "an INSERT and an UPDATE through `asyncio.to_thread`: twice as fast as it is about "
        "our sync append alone (the 2026-12-05 late runs, with the turn: peer 165-224 µs, "
        "ours 88-95, 1.8-2.5x; the late-evening run, without it: peer 170-222 µs, ours "
        "74-80, 2.2-2.8x). At synchronous=FULL the WAL fsync dominates, and an async write "
        "there goes to the store's worker thread."
    ),
    "sqlite-2x:sqlite-full": (
        "At synchronous=FULL every commit waits for the WAL's fsync. In the 2026-12-05 "
        "late-evening run a bare one-row INSERT + COMMIT took 151-171 µs (the floor column) "
        "and SQLiteSession's append 359-491 µs: twice as fast as its 359 µs at H = 10 000 "
        "is 180 µs, 1.1x that floor. Our append writes about ten WAL pages before the fsync "
        "(the entry and its two indexes, the session row and its four listing indexes, the "
        "search-queue row) and took 1.8-1.9x the floor sync (284-292 µs); the async append "
        "(405-414 µs) adds the hand-off to the store's worker, since a write that waits for "
        "the disk does not run on the event loop."
    ),
    "sqlite-throughput": (
        "Appends made together share one transaction (group commit: one commit for the 16), "
        "but each still runs its own statements and Python work on the one event loop, and "
        "the loop waits while the worker runs the chores on the writers' connection. In a "
        "3 s run on the 2026-12-05 late-evening machine the loop sat idle 0.83-0.87 s: WAL "
        "checkpoints took 0.56 s (112 of them, 5 ms each) and indexing the search queue "
        "0.30 s (143 batches of 256 messages); SQLiteSession's appends run in threads on "
        "connections of their own. Without those waits the run would reach about 16.6k "
        "appends/s, the 3x mark. A checkpoint on a connection of its own, in a thread, cut "
        "the idle time to 0.60 s and measured no faster (11.2-12.5k against 12.4-12.9k "
        "appends/s: the two threads contend for the interpreter), and lets the WAL grow "
        "(docs/design.md, Store protocol). A checkpoint is mostly fsync (3.2 ms for the WAL, "
        "2.5 for the copy and the database; 0.85 ms in all without them); the WAL fsynced "
        "first in a thread of its own while the loop kept writing cut the idle time to "
        "0.68 s and raised the rate 2-5%. 2.22x in the late-evening run (11,865 against "
        "5,342 appends/s), 2.12-2.17x on the two late runs, 2.10x on the night run."
    ),
    "append-abs": (
        "An absolute target: it moves with the machine (the run line's reference is its "
        "measure). The 2026-12-04 late run ran the same code about twice as slow as the "
        "night run before it (memory append 39-41 µs against 19.4-20.3) and missed it."
    ),
    "append-abs:agentsession file (sync)": (
        "An absolute target: it moves with the machine (the run line's reference is its "
        "measure). The 2026-12-05 night run (reference 3.30 µs) missed it at H = 0 alone: "
        "there every timed append goes to a session made just before it, about 20 µs "
        "dearer than appends in a row to one session (94 against 71-75 µs timed alone, "
        "whatever the number of sessions); the late run (2.70 µs) met it (61-68 µs)."
    ),
    "append-abs:agentsession memory (sync)": (
        "An absolute target: it moves with the machine (the run line's reference is its "
        "measure). Missed by 1 µs on both 2026-12-05 late runs (21 µs: at H = 0 in the "
        "first, at H = 10 000 in the second; 18-21 µs at every H in both), met at 19-20 µs "
        "on the night run before them and at 17-20 µs in the late-evening run, once a "
        "session record was copied by position (about 1.6 µs less an append)."
    ),
    "checkpoint": (
        "A checkpoint records the head's path checksum (docs/design.md, Model), one "
        "read and one write; over the target, those two round trips are the cost."
    ),
    "restore": (
        "A verified restore reads the whole path and hashes every entry's stored text "
        "(digest and chain), linear by design; PostgreSQL keeps `jsonb`, whose text is "
        "not the canonical one, so it re-encodes each entry."
    ),
    "restore:sqlite": (
        "Met on the 2026-12-04 night run's machine and on the 2026-12-05 run's (3.3 ms "
        "sync, 3.5 ms async), with the same code: missed on a machine about twice as slow "
        "(see the run line's reference). The async store reads the path on its worker "
        "thread and verifies it on the loop."
    ),
    "restore:file": (
        "Met on the 2026-12-04 night run's machine and on the 2026-12-05 run's (3.5-3.8 "
        "ms), with the same code: missed on a machine about twice as slow (see the run "
        "line's reference)."
    ),
    "flat:sqlite-full": (
        "At synchronous=FULL every commit waits for an fsync, whose time varies from sample "
        "to sample on this machine's disk. Until the 2026-12-05 night run the session at "
        "H = 10 000 was also filled in extends of 500, which taught the checkpoint pacing "
        "too long an interval for the appends after them (a long WAL, slower commits); a "
        "checkpoint is now also due after 100 commits, and that run measured 0.97x."
    ),
    "list-cold:file": (
        "A cold listing reads the listing journals and stats the newest sessions' files "
        "(docs/design.md, File store indexes); over the target, a fresh process's first "
        "file opens are the cost."
    ),
    "floor-append:redis": (
        "The floor is one RPUSH (0.7 µs of server time). Our append is one EVALSHA whose "
        "script reads the head and counts, writes the entry, the session hash and the "
        "listing/leaf indexes and renews expiries (21 µs of server time on the 2026-12-05 "
        "machine, `INFO commandstats`), with 14 arguments to pack, plus the canonical JSON, "
        "digest and placement every store computes in Python: one atomic chain step with "
        "listing indexes. On the 2026-12-05 afternoon machine a round trip alone was about "
        "90 µs. On the 2026-12-05 late and late-evening runs: 1.5-1.7x sync (ours 174-198 "
        "µs, floor 111-121), 1.8-2.0x async."
    ),
    "floor-append:postgres": (
        "One statement, one round trip, but it locks the session row, inserts the entry "
        "under the head (its foreign key checked, its search `tsvector` computed and added "
        "to the GIN index) and updates the session row (head, revision, counts, updated_at, "
        "expiry) and its listing indexes, against the floor's single-row INSERT; both wait "
        "for the WAL flush, ours for about four times the WAL bytes. Profiled on the "
        "2026-12-05 machine, the async append waits about 370 µs for the server. Migration "
        "4 (the search text function in PL/pgSQL, its plan kept) took it from 3.4-3.8x to "
        "2.3-2.4x on 2026-12-04; the 2026-12-05 floor was faster (216 µs against 382), and "
        "the ratio 2.5-2.7x. It is the statement, not the flush: with synchronous_commit=off "
        "(2026-12-05 evening, sync) ours took 430-515 µs and the floor 97-151. On the late "
        "runs ours took 630-899 µs sync (highest at H = 100, in every repeat of both; "
        "638-670 µs at H = 100 timed alone) against a floor of 217-277, and 657-807 µs "
        "against 228-234 in the late-evening run (3.4x at H = 100); the statement replayed "
        "alone there waited 390 µs for the server, 340 without the search `tsvector`, 190 "
        "with synchronous_commit=off."
    ),
    "append-peer:LangChain RedisChatMessageHistory": (
        "Its append is a bare LPUSH (the floor itself: no session record, head, index or "
        "expiry renewal); ours is one atomic chain step with listing indexes (see the "
        "floor row)."
    ),
    "append-peer:LangChain SQLChatMessageHistory": (
        "Since search, a message append also computes the entry's generated `tsvector` "
        "(the text walked out of the `jsonb`, then `to_tsvector`) and adds it to the GIN "
        "index, about 200 µs (docs/benchmarks.md, Search); before, ours was the faster. "
        "Its append is a bare INSERT: no session row, head, counts, expiry or index."
    ),
    "last100-peer:OpenAI Agents RedisSession": (
        "Its `get_items(limit=100)` is an LRANGE and `json.loads`, i.e. the floor itself: "
        "no store can be twice as fast as the floor. Ours walks the path back from the "
        "head in a script and builds 100 Entry records: 0.8-1.0x of it (1.0x on the "
        "2026-12-05 night and late-evening runs, 0.9x on the late runs)."
    ),
    "async-sync": (
        "An async append runs on the event loop when it needs no wait (synchronous=OFF or "
        "NORMAL): at once when nothing else is ready there, else in a group after one turn "
        "of the loop. At FULL its commit waits for an fsync, so it goes to the store's "
        "worker thread: a hand-off (queue, thread wake-up, loop wake-up) more."
    ),
    "sqlite-last100": (
        "Twice as fast as SQLiteSession's read is about the floor's time (one column, "
        "`json.loads` per row, on the calling thread): on the 2026-12-05 night run 2x the "
        "peer's 370 µs was 185 µs, the floor 179 µs; on the late and late-evening runs 2x "
        "the peer's 280-286 µs was 140-143 µs, the floor 140-147 µs. The peer's read is "
        "that floor plus a "
        "thread hop. Ours runs on the event loop (no hop): four statements, 100 rows of "
        "nine columns (the driver makes a Python value of each: the eight columns beside "
        "the data, which the floor and the peer do not read, cost about 100 µs of a 150 µs "
        "fetch, timed on 2026-12-05), the page's data decoded in one pass and 100 Entry "
        "records."
    ),
    "floor-last100:redis": (
        "Our read is one script call that walks the path back from the head, and 100 "
        "Entry records built in Python (ids, parent, depth, digest, checksum, times), "
        "against the floor's LRANGE and `json.loads`. Met at 1.28x on the 2026-12-04 "
        "evening run's machine (Intel Xeon); 1.5-1.75x on this run's (AMD EPYC), with "
        "the same code: there the Python side weighs more against the round trip. On the "
        "two 2026-12-05 late runs (Intel Xeon): 1.47x (met) and 1.51x; 1.51x again in the "
        "late-evening run (ours 541 µs, floor 357 µs at H = 1 000; 1.47-1.48x at the "
        "other H)."
    ),
    "floor-last100:postgres": (
        "Missed narrowly (2.05x at one H, under 2x at the others): the async path read is "
        "a pool checkout plus one indexed range query over the path and 100 Entry records "
        "built from it, against the floor's SELECT ... LIMIT on one held connection."
    ),
    "last100-peer:OpenAI Agents SQLAlchemySession": (
        "Missed by 1% in the 2026-12-05 late-evening run: 1.98x (ours 600 µs, peer 1,186 "
        "µs), met at 2.0-2.1x in the two late runs before it (ours 576 µs, peer 1,201 µs). "
        "Timed alone on the same machine, ours took 556-562 µs (2.1x). Our read is a pool "
        "checkout and one statement that returns the session row and the 100 entries, "
        "waited on through the event loop, and 100 Entry records; the peer's is an indexed "
        "`SELECT ... LIMIT` through SQLAlchemy's async engine and `json.loads` per row."
    ),
}


def _reason(kind: str, *details: str) -> str:
    for detail in details:
        if f"{kind}:{detail}" in REASONS:
            return REASONS[f"{kind}:{detail}"]
    return REASONS.get(kind, "")


def _us(s: float) -> str:
    return f"{s * 1e6:,.0f} µs" if s * 1e6 >= 10 else f"{s * 1e6:.1f} µs"


def table_row(cells: list[str], ok: bool | None, reason: str = "") -> str:
    """One markdown row ending in verdict and reason; a miss always has a reason."""
    verdict = "n/a" if ok is None else ("**met**" if ok else "**missed**")
    if ok:
        reason = ""
    elif ok is False and not reason:
        reason = UNEXPLAINED
    return "| " + " | ".join([*cells, verdict, reason]) + " |"


def _line(ok: bool | None, target: str, figure: str, reason: str = "") -> str:
    return table_row([target, figure], ok, reason)


class _Lookup:
    """The rows of one run; ``of(group)`` for figures by system name (a name such
    as "LangChain SQLChatMessageHistory" appears in more than one group)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.idx = {(r["system"], r["op"], r["param"]): r for r in rows}

    def of(self, group: str) -> _Lookup:
        return _Lookup([r for r in self.rows if r["group"] == group])

    def get(self, system: str, op: str, param: int | None) -> float | None:
        r = self.idx.get((system, op, param))
        return None if r is None else float(r["median_s"])

    def first(self, system: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["system"] == system)

    def systems(self, group: str, role: str, mode: str | None = None) -> list[str]:
        out: list[str] = []
        for r in self.rows:
            if r["group"] != group or r["role"] != role or r["op"] == "throughput16":
                continue
            if r["op"].startswith("list20"):
                continue
            if mode is not None and r["mode"] != mode:
                continue
            if r["system"] not in out:
                out.append(r["system"])
        return out

    def ours(self, group: str, mode: str) -> str | None:
        found = self.systems(group, "ours", mode)
        return found[0] if found else None

    def groups(self) -> list[str]:
        return list(dict.fromkeys(r["group"] for r in self.rows))


@dataclasses.dataclass(frozen=True)
class _Worst:
    ratio: float  # a / b
    h: int
    a: float
    b: float

    def figure(self, a: str, b: str, digits: int = 2) -> str:
        return (
            f"worst {self.ratio:.{digits}f}x at H = {self.h} ({a} {_us(self.a)}, {b} {_us(self.b)})"
        )


def _worst(
    look: _Lookup,
    a: str,
    b: str,
    op: str,
    hs: tuple[int, ...],
    pick: Callable[[list[_Worst]], _Worst],
) -> _Worst | None:
    """``pick`` (max or min by ratio) of ``a``'s figure over ``b``'s, across ``hs``."""
    found = []
    for h in hs:
        x, y = look.get(a, op, h), look.get(b, op, h)
        if x and y:
            found.append(_Worst(x / y, h, x, y))
    return pick(found) if found else None


def _highest(found: list[_Worst]) -> _Worst:
    return max(found, key=lambda w: w.ratio)


def _lowest(found: list[_Worst]) -> _Worst:
    return min(found, key=lambda w: w.ratio)


def _level_differs(look: _Lookup, a: str, b: str) -> str:
    """Why ``a`` and ``b`` are not at the same SQLite level ("" when they are)."""
    x, y = look.first(a).get("settings"), look.first(b).get("settings")
    if x is None or y is None:
        return "" if x is None and y is None else "one level was not read back"
    if x == y:
        return ""
    return f"not at the same level ({describe(x)} vs {describe(y)}): see the run's warning"


def _flatness(look: _Lookup) -> list[str]:
    """Flatness: every append and last-100 figure of each of our columns at
    H = 10 000 within 1.5x of its small-H figure."""
    out: list[str] = []
    for group in look.groups():
        g = look.of(group)
        for system in g.systems(group, "ours"):
            for op, small, label in (("append", 0, "append"), ("last100", 100, "last 100")):
                lo, hi = g.get(system, op, small), g.get(system, op, 10_000)
                if lo is None or hi is None:
                    continue
                ratio = hi / lo
                out.append(
                    _line(
                        ratio <= 1.5,
                        f"{system}: {label} flat in history (H = 10 000 ≤ 1.5x H = {small})",
                        f"{_us(hi)} vs {_us(lo)} = {ratio:.2f}x",
                        _reason("flat", group),
                    )
                )
    return out


def _embedded(look: _Lookup) -> list[str]:
    out: list[str] = []
    sq = look.of("sqlite")
    sync, aio = sq.ours("sqlite", "sync"), sq.ours("sqlite", "async")
    if sync:
        values = [(v, h) for h in HS if (v := sq.get(sync, "append", h)) is not None]
        if values:
            worst = max(values)
            out.append(
                _line(
                    worst[0] <= 150e-6,
                    "SQLite append ≤ 150 µs (sync), every H",
                    f"worst {_us(worst[0])} at H = {worst[1]}",
                    _reason("append-abs"),
                )
            )
    for group in ("sqlite", "sqlite-full"):
        g = look.of(group)
        mine = g.ours(group, "async")
        peer = next(
            (
                s
                for s in g.systems(group, "peer", "async")
                if s.startswith("OpenAI Agents SQLiteSession")
            ),
            None,
        )
        if not (mine and peer):
            continue
        w = _worst(g, peer, mine, "append", HS, _lowest)
        if w is None:
            continue
        differs = _level_differs(g, mine, peer)
        out.append(
            _line(
                w.ratio >= 2.0 and not differs,
                f"{mine} append ≥ 2x faster than {peer} (same synchronous level)",
                w.figure("peer", "ours", digits=1),
                differs or _reason("sqlite-2x", group),
            )
        )
        ours_tp, peer_tp = g.get(mine, "throughput16", 16), g.get(peer, "throughput16", 16)
        if ours_tp and peer_tp:
            ratio = ours_tp / peer_tp
            out.append(
                _line(
                    ratio >= 3.0 and not differs,
                    f"{mine} throughput with 16 clients ≥ 3x {peer} (same synchronous level)",
                    f"{ratio:.2f}x ({ours_tp:,.0f} vs {peer_tp:,.0f} appends/s)",
                    differs or _reason("sqlite-throughput"),
                )
            )
    for group in ("sqlite", "sqlite-full"):
        g = look.of(group)
        s_, a_ = g.ours(group, "sync"), g.ours(group, "async")
        if not (s_ and a_):
            continue
        w = _worst(g, a_, s_, "append", HS, _highest)
        if w is not None:
            out.append(
                _line(
                    w.ratio <= 2.0,
                    f"{a_} append within 2x of sync",
                    w.figure("async", "sync"),
                    _reason("async-sync"),
                )
            )
    fl = look.of("file")
    for g, name, limit, label in (
        (fl, "agentsession file (sync)", 100e-6, "file append ≤ 100 µs without fsync"),
        (look.of("memory"), "agentsession memory (sync)", 20e-6, "memory append ≤ 20 µs"),
    ):
        got = [(v, h) for h in HS if (v := g.get(name, "append", h)) is not None]
        if got:
            worst = max(got)
            out.append(
                _line(
                    worst[0] <= limit,
                    label + ", every H",
                    f"worst {_us(worst[0])} at H = {worst[1]}",
                    _reason("append-abs", name),
                )
            )
    fs = fl.get("agentsession file fsync (sync)", "append", 100)
    if fs is not None:
        plain = fl.get("agentsession file (sync)", "append", 100) or 0.0
        out.append(
            _line(
                None,
                "file append with fsync (reported, no target)",
                f"{_us(fs)} vs {_us(plain)} without, H = 100",
            )
        )
    if sync:
        v = sq.get(sync, "last100", 10_000)
        if v is not None:
            out.append(_line(v <= 1e-3, "SQLite last 100 of 10 000 ≤ 1 ms (sync)", _us(v)))
        peer = "OpenAI Agents SQLiteSession"
        if aio:
            a, p = sq.get(aio, "last100", 10_000), sq.get(peer, "last100", 10_000)
            if a and p:
                differs = _level_differs(sq, aio, peer)
                out.append(
                    _line(
                        p / a >= 2.0 and not differs,
                        "SQLite last 100 of 10 000 ≥ 2x faster than SQLiteSession (async vs async)",
                        f"{p / a:.1f}x (ours {_us(a)}, peer {_us(p)})",
                        differs or _reason("sqlite-last100"),
                    )
                )
    for group in EMBEDDED:
        g = look.of(group)
        for s in g.systems(group, "ours"):
            c, r = g.get(s, "checkpoint", 1_000), g.get(s, "restore", 1_000)
            if c is not None:
                out.append(
                    _line(
                        c <= 1e-3,
                        f"{s}: checkpoint ≤ 1 ms at H = 1 000",
                        _us(c),
                        _reason("checkpoint", group),
                    )
                )
            if r is not None:
                out.append(
                    _line(
                        r <= 5e-3,
                        f"{s}: restore ≤ 5 ms at H = 1 000, verified",
                        _us(r),
                        _reason("restore", group),
                    )
                )
        cold = g.get(f"agentsession {group} (sync)", "list20_cold", 10_000)
        if cold is not None:
            out.append(
                _line(
                    cold <= 5e-3,
                    f"agentsession {group} (sync): list 20 newest of 10 000, cold ≤ 5 ms",
                    _us(cold),
                    _reason("list-cold", group),
                )
            )
    return out


def _server(look: _Lookup, group: str, floor_factor: float) -> list[str]:
    """Server stores: floors, peers' last 100, and append against peers."""
    out: list[str] = []
    look = look.of(group)
    for mode in ("sync", "async"):
        ours = look.ours(group, mode)
        if not ours:
            continue
        for fl in look.systems(group, "floor", mode):
            for op, hs in (("append", HS), ("last100", LAST_HS)):
                w = _worst(look, ours, fl, op, hs, _highest)
                if w is not None:
                    out.append(
                        _line(
                            w.ratio <= floor_factor,
                            f"{ours}: {op} within {floor_factor}x of {fl}",
                            w.figure("ours", "floor"),
                            _reason(f"floor-{op}", group),
                        )
                    )
        for peer in look.systems(group, "peer"):
            peer_mode = look.first(peer)["mode"]
            if peer_mode != mode and look.ours(group, peer_mode):
                continue  # compared with our system of its own mode
            out += _against_peer(look, ours, peer)
    return out


def _against_peer(look: _Lookup, ours: str, peer: str) -> list[str]:
    out: list[str] = []
    a, p = look.get(ours, "last100", 10_000), look.get(peer, "last100", 10_000)
    if a and p:
        out.append(
            _line(
                p / a >= 2.0,
                f"{ours}: last 100 of 10 000 ≥ 2x faster than {peer}",
                f"{p / a:.1f}x (ours {_us(a)}, peer {_us(p)})",
                _reason("last100-peer", peer),
            )
        )
    one_chain = look.first(peer).get("one_chain")
    faster = _worst(look, peer, ours, "append", HS, _lowest)
    if faster is not None and one_chain is not False:
        out.append(
            _line(
                faster.ratio > 1.0 if one_chain else None,
                f"{ours}: append faster than {peer} (same atomicity: one chain "
                "under concurrent writers)",
                faster.figure("peer", "ours"),
                _reason("append-peer", peer)
                if one_chain
                else "whether this peer keeps one chain was not recorded",
            )
        )
    slower = _worst(look, ours, peer, "append", HS, _highest)
    if slower is not None:
        out.append(
            _line(
                slower.ratio <= 1.2,
                f"{ours}: append never slower than 1.2x {peer}",
                slower.figure("ours", "peer"),
                _reason("append-peer", peer),
            )
        )
    return out


_CHECKS: list[Callable[[_Lookup], list[str]]] = [
    _embedded,
    lambda look: _server(look, "redis", 1.5),
    lambda look: _server(look, "postgres", 2.0),
    _flatness,
]


def check_targets(rows: Rows) -> list[str]:
    look = _Lookup(rows)
    lines = [
        "| target | figure | verdict | reason (when missed) |",
        "|---|---|---|---|",
    ]
    for check in _CHECKS:
        lines += check(look)
    return lines
