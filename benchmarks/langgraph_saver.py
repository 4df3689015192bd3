"""The LangGraph checkpointer beside LangGraph's own SqliteSaver and PostgresSaver.

Every saver gets the same calls, the ones a graph makes (``put`` of the next
checkpoint with only the changed channels' versions, ``put_writes`` of its
task, ``get_tuple`` of the newest), on SQLite files in a temp folder,
PostgreSQL (127.0.0.1, a fresh schema per saver) and, for ours, Redis.

- **latency**: ``put`` and ``get_tuple`` (newest) at step 10 and step 1000 of
  a thread whose state is a window of the last 20 messages (changes every
  step), a step counter (every step) and a 5 KB profile (written once);
- **bytes after 200 steps**, two ways: the synthetic thread above, and a real
  compiled chat graph (``StateGraph(MessagesState)``, LangChain's fake chat
  model) invoked until it has 200 checkpoints, whose messages channel holds
  the whole conversation at every step (LangGraph's own model). Bytes are the
  payload the saver wrote (rows' blobs/JSON), and the SQLite file after VACUUM;
- **throughput**: 8 threads (OS threads, sync savers), each its own LangGraph
  thread, 50 steps each (put_writes + put + get_tuple).

Run: ``python -m benchmarks.langgraph_saver [--repeat 5]`` (needs ``.[langgraph,
redis,postgres]`` and ``benchmarks/requirements.txt``; results in
``docs/langgraph.md``). ``RedisSaver`` (langgraph-checkpoint-redis) needs the
RedisJSON and RediSearch modules; a plain Redis has neither, so it is left out.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from agentsession import SessionManager
from agentsession.integrations.langgraph import AgentSessionSaver, session_id_for
from agentsession.store import canonical_json

REDIS = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
PROFILE = {"bio": "x" * 5000, "prefs": {"lang": "en", "tone": "terse"}}

Saver = BaseCheckpointSaver[Any]


class Thread:
    """One LangGraph thread driven step by step, as a graph's loop would."""

    def __init__(self, saver: Saver, thread_id: str) -> None:
        self.saver, self.step = saver, 0
        self.config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ""}
        }
        self.versions: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []

    def advance(self) -> None:
        """put_writes for the current checkpoint (if any), then put the next."""
        text = f"message {self.step}: " + "lorem ipsum " * 12
        changed: dict[str, Any] = {"step": self.step}
        self.messages = [*self.messages, {"role": "user", "content": text}][-20:]
        changed["messages"] = self.messages
        if self.step == 0:
            changed["profile"] = PROFILE
        if "checkpoint_id" in self.config["configurable"]:
            self.saver.put_writes(
                self.config, [("messages", self.messages[-1])], f"task-{self.step}"
            )
        new_versions = {
            ch: self.saver.get_next_version(self.versions.get(ch), None) for ch in changed
        }
        self.versions.update(new_versions)
        values = {"step": self.step, "messages": self.messages, "profile": PROFILE}
        checkpoint: Checkpoint = {
            "v": 4,
            "id": str(uuid6(clock_seq=self.step)),
            "ts": datetime.now(UTC).isoformat(),
            "channel_values": values,
            "channel_versions": dict(self.versions),
            "versions_seen": {"agent": dict(self.versions)},
            "updated_channels": sorted(changed),
        }
        metadata: Any = {"source": "loop", "step": self.step, "parents": {}}
        self.config = self.saver.put(self.config, checkpoint, metadata, new_versions)
        self.step += 1

    def latest(self) -> Any:
        cfg: RunnableConfig = {"configurable": {**self.config["configurable"]}}
        cfg["configurable"].pop("checkpoint_id", None)
        got = self.saver.get_tuple(cfg)
        assert got is not None and got.checkpoint["channel_values"]["step"] == self.step - 1
        return got


# -- the savers ------------------------------------------------------------------


@contextmanager
def ours(url: str) -> Iterator[Saver]:
    with SessionManager(url) as manager:
        yield AgentSessionSaver(manager, user_key=None)


@contextmanager
def sqlite_saver(path: Path) -> Iterator[Saver]:
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextmanager
def postgres_schema() -> Iterator[str]:
    schema = "lgbench_" + secrets.token_hex(4)
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def postgres_saver(schema: str) -> Iterator[Saver]:
    with PostgresSaver.from_conn_string(f"{POSTGRES}?options=-csearch_path%3D{schema}") as saver:
        saver.setup()
        yield saver


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of this run's own, its keys deleted afterwards."""
    prefix = f"lgbench:{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS)
        try:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
        finally:
            client.close()


def makers(
    folder: Path, stack: ExitStack
) -> dict[str, Callable[[], AbstractContextManager[Saver]]]:
    prefix = stack.enter_context(redis_prefix())

    def pg_ours() -> AbstractContextManager[Saver]:
        schema = stack.enter_context(postgres_schema())
        return ours(f"{POSTGRES}?schema={schema}")

    def pg_theirs() -> AbstractContextManager[Saver]:
        return postgres_saver(stack.enter_context(postgres_schema()))

    def name(kind: str) -> Path:
        return folder / f"{kind}-{secrets.token_hex(3)}.db"

    return {
        "agentsession SQLite": lambda: ours(f"sqlite:///{name('ours')}"),
        "LangGraph SqliteSaver": lambda: sqlite_saver(name("theirs")),
        "agentsession PostgreSQL": pg_ours,
        "LangGraph PostgresSaver": pg_theirs,
        "agentsession Redis": lambda: ours(f"{REDIS}?key_prefix={prefix}{secrets.token_hex(3)}:"),
    }


# -- measurements ---------------------------------------------------------------


def latency(saver: Saver, steps: int, repeat: int) -> tuple[float, float]:
    """Median ms of put (with its put_writes) and of get_tuple at ``steps``."""
    thread = Thread(saver, "lat-" + secrets.token_hex(4))
    for _ in range(steps):
        thread.advance()
    puts, gets = [], []
    for _ in range(repeat * 10):
        start = time.perf_counter()
        thread.advance()
        puts.append(time.perf_counter() - start)
        start = time.perf_counter()
        thread.latest()
        gets.append(time.perf_counter() - start)
    return statistics.median(puts) * 1e3, statistics.median(gets) * 1e3


def throughput(saver: Saver, threads: int = 8, steps: int = 50) -> float:
    """Steps per second (put_writes + put + get_tuple), ``threads`` at once."""

    def run(i: int) -> None:
        thread = Thread(saver, f"tp-{i}-" + secrets.token_hex(4))
        for _ in range(steps):
            thread.advance()
            thread.latest()

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    return threads * steps / (time.perf_counter() - start)


def chat_graph(saver: Saver, checkpoints: int) -> str:
    """Invoke a one-node chat graph until its thread holds ``checkpoints``."""
    model = GenericFakeChatModel(
        messages=iter(
            AIMessage(content=f"answer {i} " + "lorem ipsum " * 10) for i in range(10_000)
        )
    )

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    graph = builder.compile(checkpointer=saver)
    thread_id = "chat-" + secrets.token_hex(4)
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    count = 0
    while count < checkpoints:
        graph.invoke(
            {"messages": [HumanMessage(content=f"question {count} " + "dolor " * 10)]}, config
        )
        count = len(list(saver.list(config)))
    return thread_id


def payload_bytes(saver: Saver, thread_id: str) -> int:
    """What the saver wrote for the thread: our entries' canonical JSON, or
    the peers' checkpoint, metadata, blob and write columns."""
    if isinstance(saver, AgentSessionSaver):
        manager = saver._manager()
        export = manager.export_session(session_id_for(thread_id))
        return sum(len(canonical_json(dict(e.data)).encode()) for e in export.entries)
    if isinstance(saver, SqliteSaver):
        lite = saver.conn.cursor()
        lite.execute(
            "SELECT (SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0)"
            " FROM checkpoints WHERE thread_id = ?) +"
            " (SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes WHERE thread_id = ?)",
            (thread_id, thread_id),
        )
        return int(lite.fetchone()[0])
    assert isinstance(saver, PostgresSaver)
    with saver._cursor() as cur:
        cur.execute(
            "SELECT (SELECT COALESCE(SUM(pg_column_size(checkpoint) + pg_column_size(metadata)), 0)"
            " FROM checkpoints WHERE thread_id = %s) +"
            " (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM checkpoint_blobs WHERE thread_id = %s) +"
            " (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM checkpoint_writes WHERE thread_id = %s)"
            " AS total",
            (thread_id, thread_id, thread_id),
        )
        row = cur.fetchone()
        assert row is not None
        return int(row["total"])


def sqlite_file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    return path.stat().st_size


def main(repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="langgraph-bench-"))
    rows: dict[str, dict[str, str]] = {}
    with ExitStack() as stack:
        for name, make in makers(folder, stack).items():
            row = rows.setdefault(name, {})
            for steps in (10, 1000):
                with make() as saver:
                    put, get = latency(saver, steps, repeat)
                row[f"put@{steps}"], row[f"get@{steps}"] = f"{put:.2f}", f"{get:.2f}"
            for kind in ("synthetic", "graph"):
                before = set(folder.iterdir())
                with make() as saver:
                    if kind == "synthetic":
                        thread = Thread(saver, "bytes-" + secrets.token_hex(4))
                        for _ in range(200):
                            thread.advance()
                        thread_id = str(thread.config["configurable"]["thread_id"])
                    else:
                        thread_id = chat_graph(saver, 200)
                    row[f"bytes {kind}"] = f"{payload_bytes(saver, thread_id):,}"
                files = [p for p in set(folder.iterdir()) - before if p.suffix == ".db"]
                if files:
                    row[f"file {kind}"] = f"{sqlite_file_bytes(files[0]):,}"
            with make() as saver:
                row["steps/s (8 threads)"] = f"{throughput(saver):.0f}"
    columns = [
        "put@10",
        "get@10",
        "put@1000",
        "get@1000",
        "bytes synthetic",
        "bytes graph",
        "file synthetic",
        "file graph",
        "steps/s (8 threads)",
    ]
    print("| saver | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(row.get(c, "") for c in columns) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    main(args.repeat)
