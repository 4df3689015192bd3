"""The core installs with no driver and no framework; each optional part says
which extra it needs. The ``core`` tox environment runs this with no extras
installed; where a driver is installed its case is skipped, with that reason."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

import agentsession


def _open(url: str) -> Callable[[], object]:
    return lambda: agentsession.open_store(url)


def _open_async(url: str) -> Callable[[], object]:
    return lambda: agentsession.open_async_store(url)


def _import(module: str) -> Callable[[], object]:
    return lambda: importlib.import_module(module)


def _touch(name: str) -> Callable[[], object]:
    return lambda: getattr(importlib.import_module("agentsession.stores"), name)


def _seal(**options: object) -> Callable[[], object]:
    def use() -> object:
        from agentsession.sealed import KeyRing, SealedStore

        if options.get("keys"):
            return KeyRing([("k1", b"0" * 32)])
        return SealedStore("memory://", **options)  # type: ignore[arg-type]

    return use


CASES = [
    ("cryptography", "agentsession[crypto]", _seal(keys=True)),
    ("zstandard", "agentsession[zstd]", _seal(compression="zstd")),
    ("redis", "agentsession[redis]", _touch("RedisStore")),
    ("redis", "agentsession[redis]", _touch("AsyncRedisStore")),
    ("psycopg", "agentsession[postgres]", _touch("PostgresStore")),
    ("psycopg", "agentsession[postgres]", _touch("AsyncPostgresStore")),
    ("redis", "agentsession[redis]", _open("redis://127.0.0.1:6379/0")),
    ("redis", "agentsession[redis]", _open_async("redis://127.0.0.1:6379/0")),
    ("psycopg", "agentsession[postgres]", _open("postgresql://postgres@127.0.0.1/test")),
    ("psycopg", "agentsession[postgres]", _open_async("postgresql://postgres@127.0.0.1/test")),
    ("starlette", "agentsession[starlette]", _import("agentsession.integrations.starlette")),
    ("flask", "agentsession[flask]", _import("agentsession.integrations.flask")),
    ("django", "agentsession[django]", _import("agentsession.integrations.django")),
    ("agents", "agentsession[openai-agents]", _import("agentsession.integrations.openai_agents")),
    ("langchain_core", "agentsession[langchain]", _import("agentsession.integrations.langchain")),
    ("pydantic_ai", "agentsession[pydantic-ai]", _import("agentsession.integrations.pydantic_ai")),
    ("langgraph", "agentsession[langgraph]", _import("agentsession.integrations.langgraph")),
    ("click", "agentsession[cli]", _import("agentsession.cli")),
    ("tiktoken", "agentsession[tiktoken]", lambda: __import__("agentsession").tiktoken_counter()),
    ("google", "agentsession[adk]", _import("agentsession.integrations.adk")),
]


@pytest.mark.parametrize(("driver", "extra", "use"), CASES)
def test_a_missing_driver_names_its_extra(
    driver: str, extra: str, use: Callable[[], object]
) -> None:
    if importlib.util.find_spec(driver) is not None:
        pytest.skip(f"{driver} is installed here; the `core` tox env runs this without extras")
    # "pip install 'agentsession[flask]'" (quoted for shells; agentsession.extras).
    with pytest.raises(ImportError, match=re.escape(f"pip install '{extra}'")):
        use()


def test_the_runtime_imports_no_agent_framework() -> None:
    code = (
        "import sys, agentsession; agentsession.Turn, agentsession.SessionAware; "
        "print(sorted(m for m in ('agents', 'langchain_core', 'pydantic_ai', 'openai')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_store_layer_imports_without_drivers() -> None:
    import agentsession.stores as stores

    for name in ("MemoryStore", "AsyncMemoryStore", "SQLiteStore", "AsyncSQLiteStore"):
        assert getattr(stores, name).__name__ == name
    for name in ("FileStore", "AsyncFileStore"):
        assert getattr(stores, name).__name__ == name


def test_the_embedded_stores_need_nothing() -> None:
    with agentsession.SessionManager(agentsession.open_store("memory://")) as manager:
        manager.create("assistant").append({"role": "user", "content": "hi"})
        assert len(manager.list()) == 1


def test_the_install_hint_fits_the_installation() -> None:
    from agentsession.extras import install_hint, missing_extra

    hint = install_hint("redis")
    assert hint.startswith("pip install 'agentsession[redis]'")
    # This test suite runs from a checkout: editable there, a wheel in tox.
    editable = "-e '.[redis]'" in hint
    assert editable == ("site-packages" not in str(__import__("agentsession").__file__))
    assert "agentsession[redis]" in str(missing_extra("the Redis store", "redis"))


def test_the_command_without_its_extra_names_it() -> None:
    if all(importlib.util.find_spec(m) is not None for m in ("click", "rich")):
        pytest.skip("the cli extra is installed here; the `core` tox env runs this without it")
    out = subprocess.run(
        [sys.executable, "-m", "agentsession", "ls"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 2
    assert "pip install 'agentsession[cli]'" in out.stderr
