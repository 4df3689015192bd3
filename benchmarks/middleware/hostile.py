"""Other clients' latency while one hostile body is processed.

One uvicorn server (middleware mode, SQLite store, one worker). Eight clients
read their sessions in a loop (``GET /read``); after a quiet second one more
client posts a hostile body to ``POST /raw``: a nesting bomb (250 levels of
8 KB keys, 2 MB, refused as too deep) or an 8 MB list of a million integers
(accepted). Printed: the other clients' p50/p99 during the quiet second and
while the hostile request was in flight, and how long it took.

    python -m benchmarks.middleware.hostile        # about 15 seconds
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .run import Server

CLIENTS = 8


def _bomb() -> Any:
    value: Any = 1
    for level in range(250):
        value = {f"{level:04d}" + "k" * 8_000: value}
    return {"role": "user", "content": value}


def _big_list() -> Any:
    return {"role": "user", "items": list(range(1_000_000))}


async def _reader(
    client: httpx.AsyncClient, session_id: str, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/read", headers={"X-Session-ID": session_id})
        out.append((started, time.perf_counter() - started))


def _p(values: list[float], q: int) -> float:
    """The ``q``-th percentile, in ms."""
    if len(values) < 2:
        return values[0] * 1e3 if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1] * 1e3


async def _measure(port: int, ids: list[str], body: bytes) -> dict[str, float]:
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        readers = [asyncio.create_task(_reader(client, i, stop, samples)) for i in ids]
        await asyncio.sleep(1.0)
        quiet_end = time.perf_counter()
        reply = await client.post(
            "/raw", content=body, headers={"Content-Type": "application/json"}
        )
        hostile_end = time.perf_counter()
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*readers)
    quiet = [d for t, d in samples if t < quiet_end]
    during = [d for t, d in samples if quiet_end <= t < hostile_end]
    return {
        "status": reply.status_code,
        "hostile_ms": (hostile_end - quiet_end) * 1e3,
        "quiet_p50": _p(quiet, 50),
        "quiet_p99": _p(quiet, 99),
        "during_p50": _p(during, 50),
        "during_p99": _p(during, 99),
        "during_max": max(during, default=float("nan")) * 1e3,
    }


def main() -> None:
    bodies = {"nesting bomb (2 MB)": _bomb(), "8 MB list of integers": _big_list()}
    print(
        "| hostile body | status | its time | others p50/p99 before "
        "| others p50/p99 during | others max during |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as data:
        server = Server("middleware", f"sqlite:///{Path(data) / 'h.db'}", Path(data))
        try:
            ids, _ = server.setup_sessions()
            for name, value in bodies.items():
                r = asyncio.run(_measure(server.port, ids[:CLIENTS], json.dumps(value).encode()))
                print(
                    f"| {name} | {r['status']:.0f} | {r['hostile_ms']:.0f} ms | "
                    f"{r['quiet_p50']:.1f} / {r['quiet_p99']:.1f} ms | "
                    f"{r['during_p50']:.1f} / {r['during_p99']:.1f} ms | {r['during_max']:.0f} ms |"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
