"""Encryption at rest and compression, for any store (extra ``crypto``; ``zstd``).

Wrap a store, or its URL, and hand the wrapper to a manager::

    from agentsession import SessionManager
    from agentsession.sealed import KeyRing, SealedStore

    keys = KeyRing.from_env("AGENTSESSION_KEYS")  # "2026-12:<base64>,2026-06:<base64>"
    sessions = SessionManager(SealedStore("sqlite:///chat.db", keys=keys, compression="auto"))

Every entry's data, every session's and checkpoint's metadata (and the
checkpoint's name) is stored sealed: compressed when large enough, then
encrypted with AES-256-GCM under the ring's newest key, bound to its place.
Ids, kinds, tree links, times, counts, agents and owners stay in clear. A
record that does not open raises :class:`~agentsession.DecryptionError`
(:class:`~agentsession.MissingKey` when its key id is not in the ring), and
nothing is written, skipped or deleted because of it. :func:`rekey` seals
every record again under the newest key, on a live store (``rekey_async``
for an :class:`AsyncSealedStore`). See ``docs/design.md``,
"Encryption and compression".
"""

from __future__ import annotations

from ._async.sealed import AsyncSealedStore
from ._async.sealed import rekey as rekey_async
from ._sealing import MARK, KeyRing, RekeyReport
from ._sync.sealed import SealedStore, rekey

__all__ = [
    "MARK",
    "AsyncSealedStore",
    "KeyRing",
    "RekeyReport",
    "SealedStore",
    "rekey",
    "rekey_async",
]
