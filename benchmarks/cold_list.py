"""Child process for the cold listing: a fresh interpreter opens the store and
lists the 20 newest sessions of one user. Prints one JSON line.

    python -m benchmarks.cold_list URL USER [--async]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def _sync(url: str, user: str) -> dict[str, float]:
    t0 = time.perf_counter()
    from agentsession import SessionManager, open_store

    mgr = SessionManager(open_store(url))
    t1 = time.perf_counter()
    rows = mgr.list("bench", user_id=user, limit=20)
    t2 = time.perf_counter()
    again = mgr.list("bench", user_id=user, limit=20)
    t3 = time.perf_counter()
    mgr.close()
    assert len(rows) == 20 and [r.id for r in rows] == [r.id for r in again]
    return {"import_open_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2}


async def _async(url: str, user: str) -> dict[str, float]:
    t0 = time.perf_counter()
    from agentsession import AsyncSessionManager, open_async_store

    mgr = AsyncSessionManager(open_async_store(url))
    t1 = time.perf_counter()
    rows = await mgr.list("bench", user_id=user, limit=20)
    t2 = time.perf_counter()
    again = await mgr.list("bench", user_id=user, limit=20)
    t3 = time.perf_counter()
    await mgr.close()
    assert len(rows) == 20 and [r.id for r in rows] == [r.id for r in again]
    return {"import_open_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2}


def main(argv: list[str]) -> None:
    url, user = argv[0], argv[1]
    out = asyncio.run(_async(url, user)) if "--async" in argv else _sync(url, user)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
