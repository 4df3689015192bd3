"""``agentsession.stores``: every store class, sync and async, by its public name."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agentsession.stores as stores
from agentsession import AsyncStore, Store

SYNC = ["FileStore", "MemoryStore", "PostgresStore", "RedisStore", "SQLiteStore"]


def test_all_lists_every_store_sync_and_async() -> None:
    assert sorted(stores.__all__) == sorted(SYNC + [f"Async{name}" for name in SYNC])


@pytest.mark.parametrize("name", SYNC)
def test_each_store_is_its_protocol(name: str) -> None:
    pytest.importorskip("redis" if "Redis" in name else "psycopg" if "Postgres" in name else "json")
    sync, async_ = getattr(stores, name), getattr(stores, f"Async{name}")
    assert (sync.__name__, async_.__name__) == (name, f"Async{name}")
    for method in ("append", "read_path", "close"):
        assert callable(getattr(sync, method)) and callable(getattr(async_, method))
    assert issubclass(sync, Store) and issubclass(async_, AsyncStore)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchStore"):
        _ = stores.NoSuchStore


def test_importing_the_layer_imports_no_driver() -> None:
    code = (
        "import sys, agentsession.stores as s; s.SQLiteStore; "
        "print(sorted(m for m in ('redis', 'psycopg', 'psycopg_pool') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
