"""Every built-in store class, sync and async: the documented way to build one.

Build a store yourself when a URL is not enough -- your own client or pool,
a key prefix, a schema -- and hand it to a manager::

    from agentsession import AsyncSessionManager
    from agentsession.stores import AsyncRedisStore

    sessions = AsyncSessionManager(AsyncRedisStore(client=my_client, prefix="chat"))

Names load lazily: importing this module imports no driver. Touching a store
whose driver is missing raises an ``ImportError`` that names the extra to
install (``pip install 'agentsession[redis]'``). Each store lives in its own
folder below this package; ``docs/design.md`` (section "Stores") says what a
folder holds and how to add one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .file import AsyncFileStore, FileStore
    from .memory import AsyncMemoryStore, MemoryStore
    from .postgres import AsyncPostgresStore, PostgresStore
    from .redis import AsyncRedisStore, RedisStore
    from .sqlite import AsyncSQLiteStore, SQLiteStore

__all__ = [
    "AsyncFileStore",
    "AsyncMemoryStore",
    "AsyncPostgresStore",
    "AsyncRedisStore",
    "AsyncSQLiteStore",
    "FileStore",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "SQLiteStore",
]

# public name -> the store folder that defines it
_HOMES = {name: name.removeprefix("Async").removesuffix("Store").lower() for name in __all__}
_HOMES.update({"AsyncSQLiteStore": "sqlite", "SQLiteStore": "sqlite"})


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
