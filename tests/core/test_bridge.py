"""The one sync/async bridge, the managers' options, and the kind of store a manager takes."""

from __future__ import annotations

import asyncio
import inspect
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentsession import (
    AsyncSessionManager,
    AsyncStore,
    BlockingCallInEventLoop,
    LimitExceeded,
    SessionManager,
    Store,
    StoreClosed,
)
from agentsession.store import STORE_METHODS, AsyncBridge, Bridge
from agentsession.stores import (
    AsyncFileStore,
    AsyncMemoryStore,
    AsyncSQLiteStore,
    FileStore,
    MemoryStore,
    SQLiteStore,
)

ROOT = Path(__file__).resolve().parents[2]


def _protocol_methods(protocol: type) -> list[str]:
    return [name for name in dir(protocol) if not name.startswith("_")]


def test_the_method_list_is_the_protocols() -> None:
    assert sorted(STORE_METHODS) == _protocol_methods(AsyncStore) == _protocol_methods(Store)
    assert len(STORE_METHODS) == len(set(STORE_METHODS)) >= 18


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (AsyncSQLiteStore, AsyncStore),
        (SQLiteStore, Store),
        (AsyncFileStore, AsyncStore),
        (FileStore, Store),
        (AsyncMemoryStore, AsyncStore),
    ],
)
def test_bridged_stores_have_every_call_with_the_protocols_doc(
    cls: type, kind: type, tmp_path: Path
) -> None:
    store = cls(tmp_path / "s") if cls is not AsyncMemoryStore else cls()
    assert isinstance(store, kind)
    assert isinstance(store, AsyncBridge if kind is AsyncStore else Bridge)
    for name in STORE_METHODS:
        method = getattr(cls, name)
        assert method.__name__ == name
        assert inspect.iscoroutinefunction(method) == (kind is AsyncStore), name
        if name != "close":
            assert method.__doc__ == getattr(kind, name).__doc__, name


def test_no_module_lists_the_store_methods_again() -> None:
    # Adding a protocol method must mean: the protocol, each store, the
    # conformance suite. A forwarder that names the calls one by one (a
    # string per method) would be one more place to edit.
    offenders = []
    for folder in ("core", "integrations"):
        for path in (ROOT / folder).rglob("*.py"):
            # The protocol names its calls; a store implements them (its own
            # scripts or SQL may be named after them); the suite tests them.
            if {"testing", "stores"} & set(path.parts) or path.name in {"protocol.py", "store.py"}:
                continue
            text = path.read_text()
            named = [n for n in STORE_METHODS if f'"{n}"' in text or f"'{n}'" in text]
            if len(named) > 2:
                offenders.append(f"{path.relative_to(ROOT)}: {named}")
    assert offenders == []


def test_a_store_missing_a_call_says_which(tmp_path: Path) -> None:
    class Partial(AsyncStore):
        pass

    with pytest.raises(NotImplementedError, match=r"Partial does not implement append\(\)"):
        asyncio.run(Partial().append("s", [], now=None, expires_at=None, expected_head=None))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_async_bridge_keeps_order_and_closes_after_queued_calls(tmp_path: Path) -> None:
    async with AsyncSessionManager(AsyncSQLiteStore(tmp_path / "a.db")) as manager:
        session = await manager.create("agent")
        await asyncio.gather(
            *(session.append({"role": "user", "content": str(i)}) for i in range(20))
        )
        assert [m.data["content"] for m in await session.messages()] == [str(i) for i in range(20)]
    with pytest.raises(StoreClosed):
        await manager.store.get_session(session.id, now=datetime.now(UTC))


# -- the kind of store a manager takes --------------------------------------


def test_a_sync_manager_refuses_an_async_store(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "a.db")
    with pytest.raises(TypeError, match=r"AsyncSessionManager.*SQLiteStore"):
        SessionManager(store)  # type: ignore[arg-type]  # (untyped callers)
    asyncio.run(store.close())


def test_an_async_manager_refuses_a_sync_store(tmp_path: Path) -> None:
    for store in (SQLiteStore(tmp_path / "a.db"), MemoryStore(), FileStore(tmp_path / "f")):
        with pytest.raises(TypeError, match=r"use SessionManager with it, or Async"):
            AsyncSessionManager(store)  # type: ignore[arg-type]
        store.close()


@pytest.mark.asyncio
async def test_a_sync_manager_on_an_event_loop_warns_once(tmp_path: Path) -> None:
    with SessionManager(SQLiteStore(tmp_path / "a.db")) as manager:
        with pytest.warns(BlockingCallInEventLoop, match="AsyncSessionManager"):
            session = manager.create("agent")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            session.append({"role": "user", "content": "again"})  # once per manager


@pytest.mark.asyncio
async def test_a_sync_manager_in_a_worker_thread_does_not_warn(tmp_path: Path) -> None:
    with SessionManager(SQLiteStore(tmp_path / "a.db")) as manager:
        session = await asyncio.to_thread(manager.create, "agent")
        await asyncio.to_thread(session.append, {"role": "user", "content": "hi"})
        assert await asyncio.to_thread(lambda: manager.get(session.id).message_count) == 1


# -- options and twins ------------------------------------------------------


def test_with_store_carries_every_option_and_the_clock(tmp_path: Path) -> None:
    source = SessionManager(
        MemoryStore(),
        ttl=timedelta(hours=2),
        idle_timeout=timedelta(minutes=5),
        max_messages=7,
        checkpoint_every=timedelta(minutes=1),
        max_entry_bytes=1234,
    )
    twin = source.with_store(SQLiteStore(tmp_path / "t.db"))
    options = twin.options()
    expected = source.options()
    assert set(options) == set(inspect.signature(SessionManager).parameters) - {"store"}
    assert {k: v for k, v in options.items() if k != "clock"} == {
        k: v for k, v in expected.items() if k != "clock"
    }
    session = twin.create("agent")
    assert session.info.expires_at is not None
    source.close()
    with pytest.raises(StoreClosed):  # the clock is shared: closing the source stops the twin
        twin.create("agent")
    twin.store.close()


@pytest.mark.asyncio
async def test_a_twin_of_the_other_kind_takes_the_options(tmp_path: Path) -> None:
    memory = MemoryStore()
    source = SessionManager(memory, max_messages=1)
    twin = AsyncSessionManager(AsyncMemoryStore(memory), **source.options())
    session = await twin.create("agent")
    await session.append({"role": "user", "content": "one"})
    with pytest.raises(LimitExceeded):
        await session.append({"role": "user", "content": "two"})
