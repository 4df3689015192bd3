"""The systems measured on each back end, side by side in one run.

A group is skipped (with the reason) when its store has not been built yet, a
peer package is missing, or its server does not answer.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .adapters.base import Adapter
from .durability import describe, sqlite_intended

__all__ = ["POSTGRES_DSN", "REDIS_URL", "Group", "build_groups"]

REDIS_URL = os.environ.get("AGENTSESSION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "AGENTSESSION_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
KEY_PREFIX = "agentsession_bench:"
PG_SCHEMA = "agentsession_bench"


@dataclasses.dataclass
class Group:
    name: str
    title: str
    adapters: list[Adapter]
    skipped: list[str]  # "system: reason"
    cold_url: str | None = None  # our store's URL for the fresh-process listing
    throughput: bool = False
    writes_only: bool = False
    cleanup: Callable[[], None] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _reachable(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 2):
            return True
    except OSError:
        return False


def _memory() -> Group:
    from .adapters.ours import Ours, OursAsync

    dur = "none: process memory"
    return Group(
        "memory",
        "Memory store (`memory://`)",
        [
            Ours("memory://", group="memory", durability=dur, label="memory"),
            OursAsync("memory://", group="memory", durability=dur, label="memory"),
        ],
        [],
    )


def _sqlite(data: Path, synchronous: str, *, full_variant: bool = False) -> Group:
    """Our store, the peers and the floor at one ``synchronous`` level.

    ``full_variant``: the second table, at FULL (fsync per commit), writes only,
    with SQLiteSession as shipped (it leaves SQLite's default, FULL)."""
    from .adapters.floors import RawSQLite
    from .adapters.ours import Ours, OursAsync

    adapters: list[Adapter] = []
    skipped: list[str] = []
    cold = None
    # What each column is set to; its label is replaced by what its connection
    # reports after open (durability.apply_read_back).
    intended = sqlite_intended(synchronous)
    dur = describe(intended) + " (set, not read back)"
    name = "sqlite-full" if full_variant else "sqlite"
    if _have("agentsession.stores.sqlite._sync.store"):
        # An absolute path gives sqlite:////abs; NORMAL is our default.
        query = "" if synchronous == "NORMAL" else f"?synchronous={synchronous}"
        label = "SQLite" + (" FULL" if full_variant else "")
        # A file each: the systems of a group are open at once (harness).
        for cls, file in ((Ours, "ours-sync.db"), (OursAsync, "ours-async.db")):
            url = f"sqlite:///{data / file}{query}"
            mine = cls(url, group=name, durability=dur, label=label)
            mine.intended = intended
            adapters.append(mine)
        if not full_variant:
            cold = f"sqlite:///{data / 'listing.db'}{query}"
    else:
        skipped.append("agentsession SQLite: store not built yet")
    if _have("agents"):
        from .adapters.openai_agents import AgentsSQLiteSession

        shipped = full_variant and synchronous == "FULL"
        level = None if shipped else synchronous
        adapters.append(AgentsSQLiteSession(data / "agents.db", level, group=name))
    else:
        skipped.append("OpenAI Agents SQLiteSession: `pip install openai-agents`")
    if _have("langchain_community") and _have("sqlalchemy"):
        from .adapters.langchain import LCSQLHistory

        lc = LCSQLHistory(f"sqlite:///{data / 'langchain.db'}", group=name, durability=dur)
        lc.use_sqlite(synchronous)
        adapters.append(lc)
    else:
        skipped.append("LangChain SQLChatMessageHistory: `pip install langchain-community`")
    fl = RawSQLite(data / "floor.db", synchronous)
    fl.group = name
    adapters.append(fl)
    title = f"SQLite, synchronous={synchronous}" + (" (writes only)" if full_variant else "")
    return Group(
        name,
        title,
        adapters,
        skipped,
        cold_url=cold,
        throughput=not full_variant,
        writes_only=full_variant,
    )


def _file(data: Path) -> Group:
    from .adapters.ours import Ours, OursAsync

    adapters: list[Adapter] = []
    skipped: list[str] = []
    if _have("agentsession.stores.file._sync.store"):
        for fsync in (False, True):
            d = data / ("file-fsync" if fsync else "file")
            url = f"file://{d}" + ("?fsync=true" if fsync else "")
            dur = "fsync per append" if fsync else "no fsync (OS page cache)"
            label = "file" + (" fsync" if fsync else "")
            adapters.append(Ours(url, group="file", durability=dur, label=label))
        adapters.append(
            OursAsync(
                f"file://{data / 'file-async'}",
                group="file",
                durability="no fsync (OS page cache)",
                label="file",
            )
        )
    else:
        skipped.append("agentsession file: store not built yet")
    if _have("langchain_community"):
        from .adapters.langchain import LCFileHistory

        d = data / "langchain-files"
        d.mkdir(parents=True, exist_ok=True)
        adapters.append(LCFileHistory(d))
    else:
        skipped.append("LangChain FileChatMessageHistory: `pip install langchain-community`")
    cold = (
        f"file://{data / 'file-listing'}" if _have("agentsession.stores.file._sync.store") else None
    )
    return Group("file", "File (JSONL)", adapters, skipped, cold_url=cold)


def redis_durability(url: str) -> str:
    import redis

    r = redis.Redis.from_url(url)
    try:
        aof = r.config_get("appendonly").get("appendonly")
        fsync = r.config_get("appendfsync").get("appendfsync")
        save = r.config_get("save").get("save")
    finally:
        r.close()
    if aof == "yes":
        return f"server AOF, appendfsync={fsync}"
    return "server in memory only (no AOF" + (", no RDB)" if not save else f", RDB save {save})")


def _redis_cleanup(url: str) -> Callable[[], None]:
    def cleanup() -> None:
        import redis

        r = redis.Redis.from_url(url)
        try:
            batch = []
            for key in r.scan_iter(match=KEY_PREFIX + "*", count=1_000):
                batch.append(key)
                if len(batch) >= 1_000:
                    r.unlink(*batch)
                    batch = []
            if batch:
                r.unlink(*batch)
        finally:
            r.close()

    return cleanup


def _redis(url: str) -> Group:
    title = "Redis (standalone, 127.0.0.1)"
    if not _have("redis"):
        return Group("redis", title, [], ["all: `pip install redis`"])
    if not _reachable(url, 6379):
        return Group("redis", title, [], [f"all: no Redis server at {urlsplit(url).netloc}"])
    from .adapters.floors import RawRedis, RawRedisAsync
    from .adapters.ours import Ours, OursAsync

    _redis_cleanup(url)()
    dur = redis_durability(url)
    adapters: list[Adapter] = []
    skipped: list[str] = []
    cold = None
    if _have("agentsession.stores.redis._sync.store"):
        ours_url = f"{url}?key_prefix={KEY_PREFIX}ours:"
        adapters.append(Ours(ours_url, group="redis", durability=dur, label="Redis"))
        adapters.append(OursAsync(ours_url, group="redis", durability=dur, label="Redis"))
        cold = f"{url}?key_prefix={KEY_PREFIX}listing:"
    else:
        skipped.append("agentsession Redis: store not built yet")
    if _have("agents"):
        from .adapters.openai_agents import AgentsRedisSession

        adapters.append(AgentsRedisSession(url, KEY_PREFIX + "agents", dur))
    else:
        skipped.append("OpenAI Agents RedisSession: `pip install openai-agents[redis]`")
    if _have("langchain_community"):
        from .adapters.langchain import LCRedisHistory

        adapters.append(LCRedisHistory(url, KEY_PREFIX + "lc:", dur))
    else:
        skipped.append("LangChain RedisChatMessageHistory: `pip install langchain-community`")
    adapters.append(RawRedis(url, KEY_PREFIX + "floor:", dur))
    adapters.append(RawRedisAsync(url, KEY_PREFIX + "floor:", dur))
    return Group(
        "redis",
        title,
        adapters,
        skipped,
        cold_url=cold,
        throughput=True,
        cleanup=_redis_cleanup(url),
    )


def postgres_durability(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        sc = conn.execute("SHOW synchronous_commit").fetchone()
        fs = conn.execute("SHOW fsync").fetchone()
    assert sc is not None and fs is not None
    return f"synchronous_commit={sc[0]}, fsync={fs[0]}"


def _pg_schema(dsn: str, create: bool, also: str | None = None) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        if also:
            conn.execute(f"DROP SCHEMA IF EXISTS {also} CASCADE")
        if create:
            conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")


def _postgres(dsn: str) -> Group:
    title = "PostgreSQL (127.0.0.1, database `test`)"
    if not _have("psycopg"):
        return Group("postgres", title, [], ["all: `pip install psycopg[binary]`"])
    if not _reachable(dsn, 5432):
        return Group("postgres", title, [], [f"all: no PostgreSQL at {urlsplit(dsn).netloc}"])
    from .adapters.floors import RawPsycopg, RawPsycopgAsync
    from .adapters.ours import Ours, OursAsync

    _pg_schema(dsn, create=True)
    dur = postgres_durability(dsn)
    adapters: list[Adapter] = []
    skipped: list[str] = []
    cold = None
    sep = "&" if "?" in dsn else "?"
    if _have("agentsession.stores.postgres._sync.store"):
        ours_url = f"{dsn}{sep}schema={PG_SCHEMA}"
        adapters.append(Ours(ours_url, group="postgres", durability=dur, label="PostgreSQL"))
        adapters.append(OursAsync(ours_url, group="postgres", durability=dur, label="PostgreSQL"))
        cold = f"{dsn}{sep}schema={PG_SCHEMA}_listing"
    else:
        skipped.append("agentsession PostgreSQL: store not built yet")
    if _have("agents") and _have("asyncpg"):
        from .adapters.openai_agents import AgentsSQLAlchemySession

        adapters.append(AgentsSQLAlchemySession(dsn, PG_SCHEMA, dur))
    else:
        skipped.append("OpenAI Agents SQLAlchemySession: `pip install openai-agents asyncpg`")
    if _have("langchain_community") and _have("sqlalchemy"):
        from .adapters.langchain import LCSQLHistory

        url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        opts = {"options": f"-c search_path={PG_SCHEMA}"}
        adapters.append(LCSQLHistory(url, group="postgres", durability=dur, connect_args=opts))
    else:
        skipped.append("LangChain SQLChatMessageHistory: `pip install langchain-community`")
    adapters.append(RawPsycopg(dsn, PG_SCHEMA, dur))
    adapters.append(RawPsycopgAsync(dsn, PG_SCHEMA, dur))
    return Group(
        "postgres",
        title,
        adapters,
        skipped,
        cold_url=cold,
        throughput=True,
        cleanup=lambda: _pg_schema(dsn, create=False, also=f"{PG_SCHEMA}_listing"),
    )


def build_groups(names: list[str], data: Path, synchronous: str) -> list[Group]:
    makers: dict[str, Callable[[], Group]] = {
        "memory": _memory,
        "sqlite": lambda: _sqlite(data / "sqlite", synchronous),
        "sqlite-full": lambda: _sqlite(data / "sqlite-full", "FULL", full_variant=True),
        "file": lambda: _file(data / "file"),
        "redis": lambda: _redis(REDIS_URL),
        "postgres": lambda: _postgres(POSTGRES_DSN),
    }
    groups = []
    for name in names:
        if name in ("sqlite", "sqlite-full", "file"):
            (data / name).mkdir(parents=True, exist_ok=True)
        groups.append(makers[name]())
    return groups
