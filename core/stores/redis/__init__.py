"""The Redis store (``redis://``, ``rediss://``, ``redis+cluster://``, ``unix://``).

See ``docs/stores/redis.md``; the public names are re-exported by
:mod:`agentsession.stores`.
"""

from __future__ import annotations

from ._async.store import AsyncRedisStore
from ._sync.store import RedisStore

__all__ = ["AsyncRedisStore", "RedisStore"]
