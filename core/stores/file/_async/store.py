"""The JSONL file store (``file:///abs/dir``): sessions as human-readable files.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Each session is ``<base>/<agent>/<session_id>.jsonl``, an append-only log of
JSON lines replayed when opened (:mod:`agentsession.stores.file._layout` for
the tree, ``_format`` for the lines, ``_engine`` for the calls). The sync
store does its I/O in the calling thread (a lock serialises the threads
sharing a store object); the async store runs each call on its own worker
thread. Both are the one bridge (``agentsession._async.bridge``) over the
same engine. Guarantees, durability and costs: ``docs/stores/file.md``.
"""

from __future__ import annotations

import functools
import os

from agentsession._async.bridge import AsyncBridge
from agentsession.stores._blocking import AsyncRunner
from agentsession.stores.file._engine import FileEngine, guarded
from agentsession.stores.file._layout import parse_file_url

__all__ = ["AsyncFileStore"]


class AsyncFileStore(AsyncBridge):
    """Sessions as JSONL files under one directory (``docs/stores/file.md``).

    Args:
        path: the base directory (created 0700 on the first write).
        fsync: sync every write to disk before returning (default False).
        max_open: session files kept open, with their replayed state.

    Nothing is opened until the first call.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = False, max_open: int = 128
    ) -> None:
        self._engine = engine = FileEngine(
            os.path.abspath(os.fspath(path)), fsync=fsync, max_open=max_open
        )
        super().__init__(
            lambda name: functools.partial(guarded, getattr(engine, name)),
            AsyncRunner("agentsession-file"),
            engine.close,
        )

    @classmethod
    def from_url(cls, url: str) -> AsyncFileStore:
        """``file:///absolute/directory``, optionally ``?fsync=true``."""
        path, fsync = parse_file_url(url)
        return cls(path, fsync=fsync)

    @property
    def path(self) -> str:
        """The absolute path of the base directory."""
        return self._engine.layout.base

    def __repr__(self) -> str:
        return f"<AsyncFileStore path={self.path!r} fsync={self._engine.fsync}>"
