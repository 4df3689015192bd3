"""Middleware overhead under real HTTP load (see docs/benchmarks.md).

    .venv-bench/bin/python -m benchmarks.middleware.run [--quick] [--stores sqlite,redis]

One uvicorn server per variant (one worker, ``taskset -c 0``), all started at
once and measured in turn, run after run, so a slow moment of the machine hits
every variant alike; the load comes from ``wrk -t1 -c16`` on core 1, 20 runs of
2 s per variant. Before measuring, each store's middleware and direct apps
are checked to make the same store calls per request (:func:`store_calls`).
Results go to ``.bench/results-middleware.json`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..groups import KEY_PREFIX, REDIS_URL, _reachable, _redis_cleanup
from ..harness import MIN_SAMPLES
from ..report import replace_section
from ..run import ROOT, machine, wait_for_quiet
from ..targets import table_row
from ..workload import message
from .load import CONNECTIONS, run_load, wrk_available

SESSIONS = 16
BODY = json.dumps({"content": message(1)["content"]})

# (name, endpoint, server mode, how the session travels)
SCENARIOS = [
    ("write: middleware", "write", "middleware", "header"),
    ("write: direct", "write", "direct", "header"),
    ("read: middleware", "read", "middleware", "header"),
    ("read: direct", "read", "direct", "header"),
    ("read: middleware, cookie", "read", "middleware", "cookie"),
    ("read: Starlette SessionMiddleware", "read", "starlette", "cookie"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, mode: str, store: str, logs: Path) -> None:
        self.mode = mode
        self.port = _free_port()
        env = dict(os.environ, BENCH_MODE=mode, BENCH_STORE=store)
        # wrk drops its connections mid-request when a run ends: uvicorn logs a
        # ClientDisconnect for those. Kept in a file, shown if the server dies.
        self.log = logs / f"uvicorn-{mode}.log"
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.middleware.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _reachable(f"http://127.0.0.1:{self.port}", self.port):
                return
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-3000:]
                raise RuntimeError(f"uvicorn ({mode}) exited with {self.proc.returncode}:\n{tail}")
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn ({mode}) did not start")

    def setup_sessions(self) -> tuple[list[str], list[str]]:
        """SESSIONS sessions of 5 messages: their ids and their cookies."""
        ids, cookies = [], []
        for _ in range(SESSIONS):
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/setup", data=b"{}", method="POST"
            )
            with urllib.request.urlopen(req) as resp:
                body = json.loads(resp.read())
                ids.append(resp.headers.get("X-Session-ID") or body["id"] or "")
                cookie = resp.headers.get("Set-Cookie") or ""
                cookies.append(cookie.split(";", 1)[0])
        return ids, cookies

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


def _store_url(store: str, data: Path) -> str | None:
    if store == "sqlite":
        return f"sqlite:///{data / 'middleware.db'}"
    if store == "redis":
        if not _reachable(REDIS_URL, 6379):
            return None
        return f"{REDIS_URL}?key_prefix={KEY_PREFIX}mw:"
    if store == "memory":
        return "memory://"
    raise SystemExit(f"unknown store {store!r}")


def store_calls(url: str) -> dict[str, dict[str, list[str]]]:
    """The store calls one read and one write make, per server mode.

    Measured in this process through Starlette's test client, on a store that
    records its calls; :func:`main` refuses to measure when the middleware and
    the direct handlers do not make the same ones (like is compared with like).
    """
    from starlette.testclient import TestClient

    from agentsession import open_async_store
    from agentsession.store import STORE_METHODS

    from .app import build

    found: dict[str, dict[str, list[str]]] = {}
    for mode in ("middleware", "direct"):
        store = open_async_store(url)
        seen: list[str] = []
        for name in STORE_METHODS:
            if name != "close":
                setattr(store, name, _recorded(getattr(store, name), name, seen))
        with TestClient(build(mode, store)) as client:
            reply = client.post("/setup", content=b"{}")
            headers = {"X-Session-ID": reply.headers.get("x-session-id") or reply.json()["id"]}
            found[mode] = {}
            for endpoint, method, body in (("read", "GET", None), ("write", "POST", BODY)):
                seen.clear()
                client.request(
                    method, f"/{endpoint}", headers=headers, content=body
                ).raise_for_status()
                found[mode][endpoint] = list(seen)
            assert client.portal is not None  # inside the client's context
            client.portal.call(store.close)
    return found


def _recorded(method: Any, name: str, seen: list[str]) -> Any:
    async def call(*args: Any, **kwargs: Any) -> Any:
        seen.append(name)
        return await method(*args, **kwargs)

    return call


def measure_store(store: str, url: str, runs: int, seconds: float, logs: Path) -> dict[str, Any]:
    servers: dict[str, Server] = {}
    try:
        for mode in ("middleware", "direct", "starlette"):
            servers[mode] = Server(mode, url, logs)
        sessions = {mode: s.setup_sessions() for mode, s in servers.items()}
        rates: dict[str, list[float]] = {name: [] for name, *_ in SCENARIOS}
        for run in range(runs):
            for name, endpoint, mode, carrier in SCENARIOS:
                ids, cookies = sessions[mode]
                header, values = (
                    ("X-Session-ID", ids) if carrier == "header" else ("Cookie", cookies)
                )
                method, body = ("POST", BODY) if endpoint == "write" else ("GET", "")
                rps = run_load(
                    servers[mode].port, method, f"/{endpoint}", header, values, body, seconds
                )
                rates[name].append(rps)
                print(
                    f"  {store:<7} run {run + 1}/{runs}  {name:<36} {rps:>9.0f} req/s", flush=True
                )
    finally:
        for s in servers.values():
            s.stop()
    return {
        name: {"median": statistics.median(v), "low": min(v), "high": max(v), "runs": v}
        for name, v in rates.items()
    }


# Why a target is missed (the figures are in docs/benchmarks.md).
REASONS = {
    "read: middleware, cookie": (
        "Starlette's session is the cookie itself: a read verifies an HMAC and decodes "
        "base64 JSON, with no I/O. Ours reads the conversation from the store (one SQLite "
        "transaction, on the event loop while the store's worker is idle, or one Redis "
        "round trip and script) and builds the entries: no store-backed session can match "
        "a cookie that carries its data."
    ),
}


def _table(results: dict[str, dict[str, Any]]) -> list[str]:
    out = ["| store | scenario | req/s (median) | range | ratio | target | verdict | reason |"]
    out.append("|---|---|---|---|---|---|---|---|")
    pairs = {
        "write: middleware": ("write: direct", 0.9, "≥ 90% of direct"),
        "read: middleware": ("read: direct", 0.9, "≥ 90% of direct"),
        "read: middleware, cookie": ("read: Starlette SessionMiddleware", 1.0, "not slower"),
    }
    for store, rows in results.items():
        for name, *_ in SCENARIOS:
            r = rows[name]
            cells = [store, name, f"{r['median']:,.0f}", f"{r['low']:,.0f}-{r['high']:,.0f}"]
            if name not in pairs:
                out.append("| " + " | ".join(cells) + " |  |  |  |  |")
                continue
            other, need, target = pairs[name]
            # Run i of each variant ran back to back (interleaved): the median
            # of the per-run ratios leaves out what the machine did meanwhile.
            paired = zip(r["runs"], rows[other]["runs"], strict=True)
            value = statistics.median(a / b for a, b in paired)
            cells += [f"{value:.0%} of {other.split(': ', 1)[1]}", target]
            out.append(table_row(cells, value >= need, REASONS.get(name, "")))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.middleware.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="2 runs of 2 s: a smoke run")
    p.add_argument("--stores", default="sqlite,redis")
    p.add_argument("--runs", type=int, default=None, help="runs per scenario (default 20)")
    p.add_argument(
        "--seconds", type=int, default=None, help="whole seconds per run (wrk's unit; default 2)"
    )
    p.add_argument("--no-docs", action="store_true")
    p.add_argument(
        "--wait-quiet", type=float, default=0, metavar="S", help="wait up to S s for load < 0.7"
    )
    args = p.parse_args(argv)
    wait_for_quiet(args.wait_quiet)
    runs = args.runs or (2 if args.quick else MIN_SAMPLES)
    seconds = args.seconds or 2
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin server and load generator")
    data = ROOT / ".bench" / "middleware"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    calls: dict[str, dict[str, dict[str, list[str]]]] = {}
    skipped: list[str] = []
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        url = _store_url(store, data)
        if url is None:
            skipped.append(f"{store}: server not reachable")
            continue
        print(f"== {store}", flush=True)
        try:
            calls[store] = store_calls(url)
            if calls[store]["middleware"] != calls[store]["direct"]:
                raise SystemExit(f"{store}: the direct handlers make other store calls: {calls}")
            print(f"  store calls per request, both servers: {calls[store]['direct']}")
            results[store] = measure_store(store, url, runs, seconds, data)
        finally:
            if store == "redis":
                _redis_cleanup(REDIS_URL)()
    shutil.rmtree(data, ignore_errors=True)
    elapsed = time.perf_counter() - started
    command = "python -m benchmarks.middleware.run " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    payload = {
        "machine": dict(machine(), load_before=load_before),
        "command": command.strip(),
        "quick": args.quick,
        "runs": runs,
        "seconds": seconds,
        "generator": "wrk -t1 -c16" if wrk_available() else "asyncio client, 16 connections",
        "elapsed_s": elapsed,
        "skipped": skipped,
        "results": results,
        "store_calls": calls,
    }
    (ROOT / ".bench" / "results-middleware.json").write_text(json.dumps(payload, indent=1))
    print(f"done in {elapsed:.0f} s")
    if not args.no_docs:
        write_section(payload, ROOT / "docs" / "benchmarks.md")
    return 0


def _calls_line(calls: dict[str, dict[str, dict[str, list[str]]]]) -> list[str]:
    """How the run checked that middleware and direct make the same store calls."""
    if not calls:
        return []
    said = "; ".join(
        f"{store}: "
        + ", ".join(f"{kind} `{' + '.join(names)}`" for kind, names in c["direct"].items())
        for store, c in calls.items()
    )
    return [f"- Store calls per request, the same through the middleware and direct ({said})."]


def write_section(payload: dict[str, Any], path: Path) -> None:
    m = payload["machine"]
    before = m.get("load_before", (0.0,))[0]
    lines = [
        f"- Run: {m['date']}, {m['cores']} cores ({m['cpu']}), {m['implementation']} "
        f"{m['python']}, 1-minute load average {before:.1f} before, {m['load'][0]:.1f} after; "
        "command "
        f"`.venv-bench/bin/{payload['command']}` ({payload['elapsed_s'] / 60:.1f} min"
        + (", **quick mode: smoke figures, not results**" if payload["quick"] else "")
        + ").",
        f"- uvicorn, one worker, `taskset -c 0`; load: {payload['generator']} on `taskset -c 1`, "
        f"{CONNECTIONS} connections rotating over {SESSIONS} sessions of 5 messages; "
        f"median of {payload['runs']} runs of {payload['seconds']:g} s, the variants "
        "interleaved run by run.",
        *_calls_line(payload.get("store_calls", {})),
        "",
        *_table(payload["results"]),
    ]
    for s in payload["skipped"]:
        lines.append(f"- not measured: {s}")
    replace_section(path, "middleware", "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
