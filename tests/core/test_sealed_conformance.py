"""The conformance suite on every store wrapped in a sealed store: compressed,
encrypted, and both (the plain stores run it in their own folders)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from agentsession.sealed import AsyncSealedStore, KeyRing, SealedStore
from agentsession.testing import AsyncStoreConformance, StoreConformance
from tests.core.sealed_support import KINDS, open_kind, ring_pairs, tamper, url_of

MODES: dict[str, dict[str, Any]] = {
    # A low threshold, so that most records of the suite are compressed.
    "compressed": {"compression": "zlib", "threshold": 16},
    "encrypted": {"keys": ("2026-12", "2026-06")},
    "both": {"keys": ("2026-12",), "compression": "auto", "threshold": 16},
}


def options(mode: str) -> dict[str, Any]:
    made = dict(MODES[mode])
    if "keys" in made:
        pytest.importorskip("cryptography", reason="the crypto extra is not installed")
        made["keys"] = KeyRing(ring_pairs(*made["keys"]))
    return made


#: Whether the store under the sealed one keeps each entry's path checksum.
PATH_CHECKSUMS = {
    "memory": True,
    "file": True,
    "sqlite": True,
    "redis": True,
    "postgres": True,
}


class Sealed:
    kind: ClassVar[str]
    mode: ClassVar[str]

    def tamper_entry(
        self, store: Any, session_id: str, entry_id: str, data: dict[str, Any]
    ) -> None:
        tamper(self.kind, store.inner, session_id, entry_id, data)


class SyncSealed(Sealed):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SealedStore]:
        for url in url_of(self.kind, tmp_path):
            store = SealedStore(open_kind(url), **options(self.mode))
            yield store
            store.close()


class AsyncSealed(Sealed):
    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[AsyncSealedStore]:
        for url in url_of(self.kind, tmp_path):
            store = AsyncSealedStore(open_kind(url, asynchronous=True), **options(self.mode))
            yield store
            await store.close()


# Every store x mode through the generated sync wrapper; the async source on
# the embedded stores (its logic is the same code, unasynced).
for _kind in KINDS:
    for _mode in MODES:
        _name = f"TestSealed_{_kind}_{_mode}"
        # The server stores' runs, and every mode but "both" (compressed and
        # encrypted), are "slow": the full py311 env runs them all, the newer
        # Pythons' quicker envs the embedded stores' "both".
        marks = [pytest.mark.slow] if _kind in ("redis", "postgres") or _mode != "both" else []
        globals()[_name] = type(
            _name,
            (SyncSealed, StoreConformance),
            {
                "kind": _kind,
                "mode": _mode,
                "pytestmark": marks,
                "path_checksums": PATH_CHECKSUMS[_kind],
            },
        )
    for _mode in MODES if _kind in ("memory", "sqlite") else ():
        _name = f"TestAsyncSealed_{_kind}_{_mode}"
        marks = [pytest.mark.slow] if _mode != "both" else []
        globals()[_name] = type(
            _name,
            (AsyncSealed, AsyncStoreConformance),
            {
                "kind": _kind,
                "mode": _mode,
                "pytestmark": [*marks, pytest.mark.asyncio],
                "path_checksums": PATH_CHECKSUMS[_kind],
            },
        )
