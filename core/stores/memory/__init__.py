"""The in-process memory store (``memory://``).

See ``docs/stores/memory.md``; the public names are re-exported by
:mod:`agentsession.stores`.
"""

from __future__ import annotations

from ._store import AsyncMemoryStore, MemoryStore

__all__ = ["AsyncMemoryStore", "MemoryStore"]
