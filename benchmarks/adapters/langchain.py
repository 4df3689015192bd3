"""LangChain chat histories: ``FileChatMessageHistory``, ``SQLChatMessageHistory``
(SQLite and PostgreSQL) and ``RedisChatMessageHistory``.

They are sync and have no "last N" read: the way to get the last 100 is
``history.messages[-100:]``, which reads the whole history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..durability import describe, read_sqlite, sqlite_intended
from ..workload import messages
from .base import Adapter, new_session_id

__all__ = ["LCFileHistory", "LCRedisHistory", "LCSQLHistory"]

_NOTE = "no last-N read: `messages[-100:]` loads the whole history"


def _lc(msg: dict[str, Any]) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage

    cls = HumanMessage if msg["role"] == "user" else AIMessage
    return cls(content=msg["content"])


def _lc_dicts(start: int, count: int) -> list[dict[str, Any]]:
    from langchain_core.messages import messages_to_dict

    dicts: list[dict[str, Any]] = messages_to_dict([_lc(m) for m in messages(start, count)])
    return dicts


class _History(Adapter):
    note = _NOTE

    def _history(self, session_id: str) -> Any:
        raise NotImplementedError

    def new_empty(self) -> Any:
        # An existing, empty history: made, and read once, which opens what
        # it opens on first use (a client's connection), so "append at H = 0"
        # is not the history's setup. (It has no session record to store.)
        history = self._history(new_session_id())
        if history.messages:
            raise AssertionError("a new history is not empty")
        return history

    def create(self, msg: dict[str, Any]) -> Any:
        h = self._history(new_session_id())
        h.add_message(_lc(msg))
        return h

    def append(self, handle: Any, msg: dict[str, Any]) -> None:
        handle.add_message(_lc(msg))

    def last100(self, handle: Any) -> Any:
        return handle.messages[-100:]

    def read_all(self, handle: Any) -> Any:
        return handle.messages


class LCFileHistory(_History):
    """Not one chain: ``add_message`` reads the whole file, adds one message and
    writes the file back, with no lock, so of two concurrent appends one can
    overwrite the other's message (a lost update)."""

    group = "file"
    name = "LangChain FileChatMessageHistory"
    durability = "no fsync; the whole JSON file is rewritten on every append"
    one_chain = False

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import FileChatMessageHistory

        return FileChatMessageHistory(str(self.dir / f"{session_id}.json"))

    def fill(self, handle: Any, count: int) -> None:
        # Its own format, written once (add_messages would rewrite the file per message).
        existing = json.loads(handle.file_path.read_text())
        handle.file_path.write_text(json.dumps(existing + _lc_dicts(0, count)))


class LCSQLHistory(_History):
    """``SQLChatMessageHistory`` on a shared SQLAlchemy engine (as its docs show).

    One chain: ``add_message`` inserts one row (autoincrement key) and commits."""

    one_chain = True

    def __init__(self, url: str, *, group: str, durability: str, **engine_args: Any) -> None:
        self.url = url
        self.group = group
        self.durability = durability
        self.name = "LangChain SQLChatMessageHistory"
        self.engine_args = engine_args
        self.engine: Any = None
        self.pragmas: list[str] = []

    def use_sqlite(self, synchronous: str) -> None:
        """Every pooled connection at WAL and ``synchronous`` (read back after open)."""
        self.intended = sqlite_intended(synchronous)
        self.pragmas = ["PRAGMA journal_mode=WAL", f"PRAGMA synchronous={synchronous}"]
        self.durability = describe(self.intended) + " (set, not read back)"

    def open(self) -> None:
        from sqlalchemy import create_engine, event

        self.engine = create_engine(self.url, **self.engine_args)
        if self.pragmas:
            pragmas = self.pragmas

            def _set(dbapi_connection: Any, _: Any) -> None:
                for pragma in pragmas:
                    dbapi_connection.execute(pragma)

            event.listen(self.engine, "connect", _set)

    def read_settings(self) -> dict[str, str] | None:
        if self.intended is None:
            return None  # PostgreSQL: the server's setting, read by the group
        with self.engine.connect() as conn:  # a connection of the pool the histories use
            return read_sqlite(conn.connection.dbapi_connection)

    def close(self) -> None:
        self.engine.dispose()

    def analyze(self) -> None:
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE message_store")  # its default table

    def _history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import SQLChatMessageHistory

        return SQLChatMessageHistory(session_id, connection=self.engine)

    def fill(self, handle: Any, count: int) -> None:
        from langchain_core.messages import messages_from_dict

        for start in range(0, count, 1_000):
            handle.add_messages(messages_from_dict(_lc_dicts(start, min(1_000, count - start))))


class LCRedisHistory(_History):
    """One chain: ``add_message`` is one ``LPUSH`` (then ``EXPIRE`` when a TTL is set)."""

    group = "redis"
    one_chain = True
    name = "LangChain RedisChatMessageHistory"

    def __init__(self, url: str, prefix: str, durability: str) -> None:
        self.url = url
        self.prefix = prefix
        self.durability = durability

    def _history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        return RedisChatMessageHistory(session_id, url=self.url, key_prefix=self.prefix)

    def release(self, handle: Any) -> None:
        handle.redis_client.close()  # each history object makes its own client

    def fill(self, handle: Any, count: int) -> None:
        # Its own format (LPUSH: newest first), pushed in one pipeline.
        items = [json.dumps(d) for d in _lc_dicts(0, count)]
        pipe = handle.redis_client.pipeline(transaction=False)
        for start in range(0, count, 1_000):
            pipe.lpush(handle.key, *items[start : start + 1_000])
        pipe.execute()
