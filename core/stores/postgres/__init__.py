"""The PostgreSQL store (``postgresql://``).

See ``docs/stores/postgres.md``; the public names are re-exported by
:mod:`agentsession.stores`.
"""

from __future__ import annotations

from ._async.store import AsyncPostgresStore
from ._sync.store import PostgresStore

__all__ = ["AsyncPostgresStore", "PostgresStore"]
