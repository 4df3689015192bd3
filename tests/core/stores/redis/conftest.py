"""The fixture every Redis test module shares (each names its ``server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .test_redis_support import purge, unique_prefix


@pytest.fixture
def prefix(server: str) -> Iterator[str]:
    """A key prefix of the test's own on the module's server, whose keys are
    deleted afterwards."""
    name = unique_prefix()
    yield name
    purge(server, name)
