"""The store conformance suite, and helpers for testing with agentsession.

Any store -- the built-in ones, the Django ORM store, a third party's -- proves
itself by subclassing :class:`StoreConformance` (sync) or
:class:`AsyncStoreConformance` and providing a ``store`` fixture. Requires
``pytest`` (and ``pytest-asyncio`` for the async suite).
"""

from __future__ import annotations

import pytest

# Before the suite is imported: its failed asserts then show both sides.
pytest.register_assert_rewrite(
    "agentsession.testing._async", "agentsession.testing._sync", "agentsession.testing._chains"
)

from ._async.conformance import AsyncStoreConformance  # noqa: E402
from ._chains import assert_one_chain, process_appends  # noqa: E402
from ._clock import FakeClock  # noqa: E402
from ._sync.conformance import StoreConformance  # noqa: E402

__all__ = [
    "AsyncStoreConformance",
    "FakeClock",
    "StoreConformance",
    "assert_one_chain",
    "process_appends",
]
