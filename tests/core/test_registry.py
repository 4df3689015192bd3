"""Store URLs: the scheme registry and the default store."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsession import (
    AsyncSessionManager,
    InvalidInput,
    SessionManager,
    _registry,
    default_store_url,
    open_async_store,
    open_store,
    register_store,
)
from agentsession.stores import AsyncMemoryStore, MemoryStore


def test_memory_scheme() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_async_store("memory://"), AsyncMemoryStore)


@pytest.mark.parametrize(
    "url", ["memory://?max_messages=5", "memory://shared", "memory:///app", "memory://#x"]
)
def test_a_memory_url_takes_nothing_after_the_scheme(url: str) -> None:
    # Silently ignored, an option or a name would read as a setting or a
    # store that other opens share.
    for opener in (open_store, open_async_store):
        with pytest.raises(InvalidInput, match="memory:// alone"):
            opener(url)


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        open_store("mongodb://localhost")
    message = str(info.value)
    for scheme in ("memory", "file", "sqlite", "redis", "postgresql"):
        assert scheme in message


def test_register_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy of the registry: the scheme registered here is gone after the test.
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    made: list[str] = []

    def factory(url: str) -> MemoryStore:
        made.append(url)
        return MemoryStore()

    register_store("thirdparty", factory, lambda url: AsyncMemoryStore())
    with SessionManager("thirdparty://somewhere") as manager:
        manager.create("assistant")
    assert made == ["thirdparty://somewhere"]
    assert isinstance(AsyncSessionManager("thirdparty://x").store, AsyncMemoryStore)
    with pytest.raises(InvalidInput) as info:
        open_store("thirdpartz://x")
    assert "thirdparty" in str(info.value)


def test_default_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    monkeypatch.setenv("AGENTSESSION_DIR", str(tmp_path))
    assert default_store_url() == f"sqlite:///{tmp_path}/sessions.db"
    monkeypatch.setenv("AGENTSESSION_STORE_URL", "memory://")
    assert default_store_url() == "memory://"
    assert isinstance(open_store(), MemoryStore)


def test_default_dir_is_in_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    monkeypatch.delenv("AGENTSESSION_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".agentsession" / "sessions.db"
    assert default_store_url() == f"sqlite:///{expected}"
    monkeypatch.setenv("AGENTSESSION_DIR", "")  # empty = unset
    assert default_store_url() == f"sqlite:///{expected}"


def test_registered_scheme_does_not_outlive_its_test() -> None:
    # Runs after test_register_a_scheme (file order): its scheme was rolled back.
    with pytest.raises(InvalidInput):
        open_store("thirdparty://somewhere")
