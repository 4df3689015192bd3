"""The SQLite store (``sqlite:///rel.db``, ``sqlite:////abs.db``): the default.

See ``docs/stores/sqlite.md``; the public names are re-exported by
:mod:`agentsession.stores`.
"""

from __future__ import annotations

from ._async.store import AsyncSQLiteStore
from ._sync.store import SQLiteStore

__all__ = ["AsyncSQLiteStore", "SQLiteStore"]
