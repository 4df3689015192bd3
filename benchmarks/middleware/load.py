"""Load generators: ``wrk`` when installed (apt-get install wrk), else a small
asyncio HTTP/1.1 keep-alive client. Both rotate over a list of session ids or
cookies, one request at a time per connection.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run_load", "wrk_available"]

CONNECTIONS = 16


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua(method: str, path: str, header: str, values: list[str], body: str) -> str:
    items = ", ".join(json.dumps(v) for v in values)
    return f"""
local values = {{{items}}}
local body = {json.dumps(body) if body else "nil"}
local i = 0
request = function()
  i = i + 1
  local h = {{}}
  h[{json.dumps(header)}] = values[(i % #values) + 1]
  if body then h["Content-Type"] = "application/json" end
  return wrk.format({json.dumps(method)}, {json.dumps(path)}, h, body)
end
"""


def _wrk(
    port: int, method: str, path: str, header: str, values: list[str], body: str, seconds: float
) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(method, path, header, values, body))
        script = f.name
    try:
        out = subprocess.run(
            [
                "taskset",
                "-c",
                "1",
                "wrk",
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{seconds:g}s",
                "-s",
                script,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script).unlink()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    return float(found.group(1))


async def _client(port: int, requests: list[bytes], stop: float, counts: list[int], k: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = k
    try:
        while time.perf_counter() < stop:
            writer.write(requests[i % len(requests)])
            i += 1
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"HTTP status {status!r}")
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[k] += 1
    finally:
        writer.close()


async def _py_load(port: int, requests: list[bytes], seconds: float) -> float:
    counts = [0] * CONNECTIONS
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(port, requests, stop, counts, k) for k in range(CONNECTIONS)))
    return sum(counts) / (time.perf_counter() - t0)


def _py(
    port: int, method: str, path: str, header: str, values: list[str], body: str, seconds: float
) -> float:
    requests = []
    for v in values:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}: {v}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        requests.append((head + "\r\n" + body).encode())
    return asyncio.run(_py_load(port, requests, seconds))


def run_load(
    port: int, method: str, path: str, header: str, values: list[str], body: str, seconds: float
) -> float:
    """Requests per second over ``seconds``, from the other core than the server."""
    if wrk_available():
        return _wrk(port, method, path, header, values, body, seconds)
    # Pinned to core 1 like wrk: re-run ourselves under taskset.
    args = json.dumps([port, method, path, header, values, body, seconds])
    out = subprocess.run(
        ["taskset", "-c", "1", sys.executable, "-m", "benchmarks.middleware.load", args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


if __name__ == "__main__":
    print(_py(*json.loads(sys.argv[1])))
