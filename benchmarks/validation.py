"""What validating a message costs, beside ``json.dumps`` of the same data.

Every write validates its data and encodes it as canonical JSON
(``agentsession.store.canonical_json``). This runs it on ordinary and hostile
shapes of data and prints, per shape, the median time against
``json.dumps(sort_keys=True, separators=(",", ":"))`` as a ratio, and the
peak memory the call allocates (``tracemalloc``) against the JSON size.
Refused shapes (a nesting bomb, a tuple) count the time to the refusal.

    python -m benchmarks.validation            # about 20 seconds
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from agentsession import AgentSessionError
from agentsession.store import canonical_json


def _nest(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def _nest_keys(depth: int, key_size: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {f"{level:04d}" + "k" * key_size: value}
    return value


def _shapes() -> dict[str, Any]:
    message = {"role": "assistant", "content": "Sure: " + "lorem ipsum " * 40, "n": 3}
    return {
        "one chat message (0.5 KB)": message,
        "1M integers in a list": {"items": list(range(1_000_000))},
        "10k chat messages in a list": {"items": [dict(message, n=i) for i in range(10_000)]},
        "8 MB list of short strings": {"items": ["x" * 14] * 500_000},
        "nesting depth 200 (accepted)": _nest(200, 1),
        "nesting bomb, depth 100k (refused)": _nest(100_000, 1),
        "depth 190, 10 KB keys (accepted)": _nest_keys(190, 10_000),
        "depth 250, 10 KB keys (refused)": _nest_keys(250, 10_000),
        "1k keys of 2 KB each": {f"{i:05d}" + "k" * 2_000: i for i in range(1_000)},
        "a tuple deep inside (refused)": {"items": [[1, 2]] * 100_000 + [(1, 2)]},
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _ours(value: Any) -> str:
    try:
        return canonical_json(value)
    except AgentSessionError as exc:
        return str(exc)


def _median(fn: Callable[[Any], Any], value: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn(value)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _peak(fn: Callable[[Any], Any], value: Any) -> int:
    tracemalloc.start()
    try:
        fn(value)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    print("| data | ours | json.dumps | ratio | peak / JSON size | message length |")
    print("|---|---|---|---|---|---|")
    for name, value in _shapes().items():
        try:
            size = len(_dumps(value).encode())
            dumps = _median(_dumps, value, 5)
        except RecursionError:  # json.dumps cannot encode the bomb at all
            size, dumps = 0, float("nan")
        ours = _median(_ours, value, 5)
        peak = _peak(_ours, value)
        message = _ours(value)
        refused = not message.startswith(("{", "["))
        size_note = f"{peak / size:.2f}x" if size else f"{peak / 1e6:.1f} MB"
        print(
            f"| {name} | {ours * 1e3:.2f} ms | {dumps * 1e3:.2f} ms | "
            f"{ours / dumps:.2f} | {size_note} | {len(message) if refused else '-'} |"
        )


if __name__ == "__main__":
    main()
