"""Migration across the four persistent stores: time, peak memory, full comparison.

N sessions (10 messages each of the realistic workload, every third with a
checkpoint and a branch) are written to SQLite, then migrated SQLite ->
Redis -> PostgreSQL -> file with ``agentsession.migrate``; each hop runs in
its own process, which reports its wall time, its peak RSS and the peak of
its Python heap (``tracemalloc``, which also slows it: times of the
migrate and compare steps include that). A last process
exports every session from SQLite and from the file store and compares them
(``same_export``). Run at two sizes, the peak RSS shows whether memory stays
flat as the count grows.

``python -m benchmarks.migration [--sizes 1000,10000]`` (Redis on
127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432, database ``test``; their
keys and schema are removed afterwards). Results: ``docs/benchmarks.md``,
"Migration".
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REDIS = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

CHILD = """
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from agentsession import SessionManager, migrate
from agentsession.store import same_export
from benchmarks.workload import messages

step, args = sys.argv[2], json.loads(sys.argv[3])
if step != "fill":
    tracemalloc.start()  # the Python heap's peak, apart from SQLite's caches
t0 = time.perf_counter()
result = {}
if step == "fill":
    with SessionManager(args["url"]) as m:
        for n in range(args["count"]):
            s = m.create("bench", user_id=f"user-{n % 100}")
            s.extend(messages(n * 10, 10))
            if n % 3 == 0:
                point = s.checkpoint("cp")
                s.append({"role": "user", "content": "branch"})
                s.restore(point.id)
elif step == "migrate":
    report = migrate(args["source"], args["destination"], page=500)
    assert report.ok and report.skipped == 0, report
    result["copied"] = report.copied
else:  # compare
    with SessionManager(args["a"]) as a, SessionManager(args["b"]) as b:
        offset, same = 0, 0
        while rows := a.list(limit=500, offset=offset):
            offset += len(rows)
            for info in rows:
                assert same_export(a.export_session(info.id), b.export_session(info.id))
                same += 1
        result["compared"] = same
result["seconds"] = time.perf_counter() - t0
if step != "fill":
    result["heap_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def _child(step: str, **args: Any) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), step, json.dumps(args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(count: int) -> list[tuple[str, dict[str, Any]]]:
    prefix = f"bench-migrate:{secrets.token_hex(4)}:"
    schema = f"agentsession_bench_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp:
        urls = {
            "SQLite": f"sqlite:///{tmp}/source.db",
            "Redis": f"{REDIS}?key_prefix={prefix}",
            "PostgreSQL": f"{POSTGRES}?schema={schema}",
            "file": f"file://{tmp}/files",
        }
        rows = [("fill SQLite", _child("fill", url=urls["SQLite"], count=count))]
        names = list(urls)
        try:
            for source, destination in itertools.pairwise(names):
                got = _child("migrate", source=urls[source], destination=urls[destination])
                assert got["copied"] == count, got
                rows.append((f"{source} -> {destination}", got))
            got = _child("compare", a=urls["SQLite"], b=urls["file"])
            assert got["compared"] == count, got
            rows.append(("compare SQLite with file", got))
        finally:
            _drop(prefix, schema)
    return rows


def _drop(prefix: str, schema: str) -> None:
    from tests.services import drop_postgres_schema, drop_redis_keys

    drop_redis_keys(REDIS, prefix)
    drop_postgres_schema(POSTGRES, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    print("| sessions | step | time | per session | peak RSS | Python heap peak |")
    print("|---|---|---|---|---|---|")
    for count in sizes:
        for step, got in run(count):
            seconds = got["seconds"]
            heap = f"{got['heap_peak_mb']:.1f} MB" if "heap_peak_mb" in got else "—"
            print(
                f"| {count:,} | {step} | {seconds:.1f} s | {seconds / count * 1e3:.2f} ms "
                f"| {got['peak_rss_mb']:.0f} MB | {heap} |"
            )


if __name__ == "__main__":
    main()
