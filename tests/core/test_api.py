"""The public API: pinned names, typed package, sync and async twins alike."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import agentsession
from agentsession import AsyncSession, AsyncSessionManager, Session, SessionManager

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = [
    "UNCHECKED",
    "AccessDenied",
    "AgentSessionError",
    "AsyncMemoryReader",
    "AsyncSession",
    "AsyncSessionManager",
    "AsyncStore",
    "AsyncTurnStream",
    "AuditEvent",
    "BlockingCallInEventLoop",
    "Branch",
    "CallOptions",
    "Checkpoint",
    "CheckpointNotFound",
    "Checkpointable",
    "ConfigError",
    "ConflictError",
    "DecryptionError",
    "Entry",
    "IntegrityError",
    "InvalidInput",
    "LimitExceeded",
    "ManagerOptions",
    "MemoryAware",
    "MemoryReader",
    "MigrationReport",
    "MissingKey",
    "NoSessionInContext",
    "SearchHit",
    "SearchUnavailable",
    "Session",
    "SessionAware",
    "SessionInfo",
    "SessionManager",
    "SessionNotFound",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "TokenCounter",
    "Turn",
    "TurnOptions",
    "TurnStream",
    "Unchecked",
    "approx_tokens",
    "current_session",
    "default_store_url",
    "migrate",
    "migrate_async",
    "open_async_store",
    "open_store",
    "register_store",
    "tiktoken_counter",
    "use_session",
]


def test_all_is_pinned_and_sorted() -> None:
    assert agentsession.__all__ == EXPECTED
    assert sorted(EXPECTED, key=lambda n: (not n.isupper(), n)) == EXPECTED
    for name in EXPECTED:
        assert getattr(agentsession, name) is not None


def test_package_is_typed() -> None:
    assert (Path(agentsession.__file__).parent / "py.typed").is_file()


def test_error_tree() -> None:
    for name in EXPECTED:
        obj = getattr(agentsession, name)
        if isinstance(obj, type) and issubclass(obj, Warning):
            assert name.endswith("EventLoop")  # warnings stay outside the error tree
        elif isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, agentsession.AgentSessionError)
    assert issubclass(agentsession.AccessDenied, agentsession.SessionNotFound)


def _public(cls: type) -> dict[str, inspect.Signature | None]:
    result: dict[str, inspect.Signature | None] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and name not in {"__enter__", "__aenter__"}:
            continue
        result[name] = inspect.signature(member) if callable(member) else None
    return result


def test_sync_and_async_twins_have_the_same_methods() -> None:
    for sync_cls, async_cls in ((Session, AsyncSession), (SessionManager, AsyncSessionManager)):
        sync, asynchronous = _public(sync_cls), _public(async_cls)
        sync.pop("__enter__")
        asynchronous.pop("__aenter__")
        assert sync.keys() == asynchronous.keys()
        for name, signature in sync.items():
            other = asynchronous[name]
            if signature is None or other is None:
                assert signature is other, name
                continue
            assert list(signature.parameters) == list(other.parameters), name
            method = getattr(async_cls, name)
            if inspect.isfunction(method) and name not in {"now", "options", "with_store"}:
                assert inspect.iscoroutinefunction(method), name


def test_generated_sync_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_integrations() -> None:
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any("integrations" in n for n in names), path
