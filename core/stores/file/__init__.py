"""The JSONL file store (``file:///abs/dir``).

See ``docs/stores/file.md``; the public names are re-exported by
:mod:`agentsession.stores`.
"""

from __future__ import annotations

from ._async.store import AsyncFileStore
from ._sync.store import FileStore

__all__ = ["AsyncFileStore", "FileStore"]
