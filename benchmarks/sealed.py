"""Compression and encryption: bytes stored, append and read cost, per store.

The messages are an agent's: short user turns (the 200-character workload
text), long replies (paragraphs of this repository's own design notes, real
technical prose) and tool outputs (JSON rows of an order system, 1-8 KB), in
the proportions 2 : 1 : 1. Each store is written with the same 1 000
messages (20 sessions x 50) in each mode: plain, compressed (zlib; zstd),
encrypted (AES-256-GCM), both. Reported: the store's size after the writes
(SQLite file after a WAL checkpoint, the file store's directory, Redis's
``MEMORY USAGE`` of every key, PostgreSQL's relation sizes), the median
append and the median read of the last 20 messages, each as a ratio to
plain on the same store.

``python -m benchmarks.sealed [--stores memory,sqlite,file,redis,postgres]``
(Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432, database ``test``;
their keys and schema are removed afterwards). Results: ``docs/benchmarks.md``,
"Compression and encryption".
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agentsession import SessionManager, Store, open_store
from agentsession.sealed import KeyRing, SealedStore
from benchmarks.groups import POSTGRES_DSN, REDIS_URL
from benchmarks.scratch import drop, pg_schema, scratch_url
from benchmarks.workload import message

ROOT = Path(__file__).resolve().parent.parent
SESSIONS, PER_SESSION, WINDOW = 20, 50, 20
KEYS = KeyRing([("bench", os.urandom(32))])
MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "zlib": {"compression": "zlib"},
    "zstd": {"compression": "zstd"},
    "encrypted": {"keys": KEYS},
    "zstd + encrypted": {"keys": KEYS, "compression": "zstd"},
}


def _prose() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text()
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return [p for p in paragraphs if len(p) > 600] or [text[:1500]]


def _tool_output(n: int) -> str:
    rows = [
        {
            "order_id": f"ORD-{n:05d}-{i:03d}",
            "status": ("shipped", "delayed", "delivered", "returned")[(n + i) % 4],
            "items": [
                {"sku": f"SKU-{(n * 7 + i * 3 + k) % 997:04d}", "qty": 1 + k} for k in range(3)
            ],
            "depot": ("north", "regional", "harbour")[(n * i) % 3],
            "updated": f"2026-11-{1 + (n + i) % 28:02d}T{(n * 13 + i) % 24:02d}:00:00Z",
        }
        for i in range(8 + n % 40)
    ]
    return json.dumps({"rows": rows, "count": len(rows)})


def agent_messages(count: int, start: int = 0) -> list[dict[str, Any]]:
    prose = _prose()
    made = []
    for n in range(start, start + count):
        if n % 4 == 1:
            made.append({"role": "assistant", "content": prose[n % len(prose)]})
        elif n % 4 == 3:
            made.append({"role": "tool", "tool_call_id": f"call-{n}", "content": _tool_output(n)})
        else:
            made.append(message(n))
    return made


def _size(kind: str, url: str) -> int:
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return Path(path).stat().st_size
    if kind == "file":
        base = Path(url.removeprefix("file://"))
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file() and not p.is_symlink())
    if kind == "redis":
        import redis

        prefix = url.split("key_prefix=", 1)[1]
        client = redis.Redis.from_url(REDIS_URL)
        total = sum(client.memory_usage(k) or 0 for k in client.scan_iter(f"{prefix}*"))
        client.close()
        return int(total)
    if kind == "postgres":
        import psycopg

        schema = pg_schema(url)
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'VACUUM "{schema}".agentsession_entry')
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
        return int(row[0]) if row else 0
    return 0


def measure(kind: str, mode: str, directory: Path) -> dict[str, float]:
    url = scratch_url(kind, directory, mode.replace(" ", "").replace("+", "-"), "bench_sealed")
    store: Store = open_store(url)
    if MODES[mode]:
        store = SealedStore(store, **MODES[mode])
    appends: list[float] = []
    reads: list[float] = []
    try:
        with SessionManager(store) as manager:
            for n in range(SESSIONS):
                session = manager.create("bench", user_id=f"user-{n}")
                for item in agent_messages(PER_SESSION, n * PER_SESSION):
                    t0 = time.perf_counter()
                    session.append(item)
                    appends.append(time.perf_counter() - t0)
                for _ in range(10):
                    t0 = time.perf_counter()
                    session.messages(limit=WINDOW)
                    reads.append(time.perf_counter() - t0)
            size = _size(kind, url)
    finally:
        drop(url)
    return {
        "bytes": size,
        "append_us": statistics.median(appends) * 1e6,
        "read_us": statistics.median(reads) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="memory,sqlite,file,redis,postgres")
    args = parser.parse_args()
    raw = sum(len(json.dumps(m, separators=(",", ":"))) for m in agent_messages(1000))
    print(f"{SESSIONS * PER_SESSION} messages, {raw / 1000:.0f} bytes each on average")
    print("| store | mode | size | vs plain | append | vs plain | last 20 | vs plain |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stores.split(","):
            base: dict[str, float] = {}
            for mode in MODES:
                got = measure(kind, mode, Path(tmp))
                base = base or got
                size = f"{got['bytes'] / 1e6:.2f} MB" if got["bytes"] else "-"
                ratio = f"{got['bytes'] / base['bytes']:.2f}x" if base["bytes"] else "-"
                print(
                    f"| {kind} | {mode} | {size} | {ratio} | {got['append_us']:.0f} us"
                    f" | {got['append_us'] / base['append_us']:.2f}x | {got['read_us']:.0f} us"
                    f" | {got['read_us'] / base['read_us']:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
