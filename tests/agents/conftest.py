"""Every store, by URL, for the agent runtime and the framework adapters.

``store_url`` is parametrized over the five back ends; a test opens as many
managers on it as it needs (two managers on one URL see the same sessions,
except ``memory://``, which is one store per open: tests that need a second
opener use :func:`shared_url`'s durable stores only).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import fresh_store_url


def need(module: str, extra: str) -> None:
    """Skip this test module when ``module`` (the ``extra``) is missing, except
    where ``AGENTSESSION_REQUIRE_AGENT_EXTRAS=1`` (the tox env that installs
    them), where a missing one fails."""
    if os.environ.get("AGENTSESSION_REQUIRE_AGENT_EXTRAS") == "1":
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=f"the {extra} extra is not installed")


STORES = ["memory", "file", "sqlite", "redis", "postgres"]
DURABLE = ["file", "sqlite", "redis", "postgres"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    yield from fresh_store_url(request.param, tmp_path)


@pytest.fixture(params=DURABLE)
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind that a second opener (or process) shares."""
    yield from fresh_store_url(request.param, tmp_path)
