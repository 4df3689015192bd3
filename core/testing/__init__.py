"""The store conformance suite, and helpers for testing with agentsession.

Any store -- the built-in ones, the Django ORM store, a third party's -- proves
itself by subclassing :class:`StoreConformance` (sync) or
:class:`AsyncStoreConformance` and providing a ``store`` fixture. Requires
``pytest`` (and ``pytest-asyncio`` for the async suite).
"""

from __future__ import annotations

from ._async.conformance import AsyncStoreConformance
from ._chains import assert_one_chain, process_appends
from ._clock import FakeClock
from ._sync.conformance import StoreConformance

__all__ = [
    "AsyncStoreConformance",
    "FakeClock",
    "StoreConformance",
    "assert_one_chain",
    "process_appends",
]
