"""use_session / current_session across await and threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from agentsession import (
    AsyncSessionManager,
    NoSessionInContext,
    SessionManager,
    current_session,
    use_session,
)


def test_outside_any_block() -> None:
    with pytest.raises(NoSessionInContext):
        current_session()


def test_nesting_and_reset() -> None:
    manager = SessionManager("memory://")
    outer, inner = manager.create("a"), manager.create("a")
    with use_session(outer):
        assert current_session() is outer
        with use_session(inner):
            assert current_session() is inner
        assert current_session() is outer
    with pytest.raises(NoSessionInContext):
        current_session()


def test_threads_started_with_copy_context() -> None:
    manager = SessionManager("memory://")
    session = manager.create("a")
    seen: dict[str, object] = {}

    def copied() -> None:
        seen["copied"] = current_session()

    def plain() -> None:
        try:
            seen["plain"] = current_session()
        except NoSessionInContext as exc:
            seen["plain"] = exc

    with use_session(session):
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(copied,)),
            threading.Thread(target=plain),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen["copied"] is session
    assert isinstance(seen["plain"], NoSessionInContext)


@pytest.mark.asyncio
async def test_across_await_and_tasks() -> None:
    manager = AsyncSessionManager("memory://")
    a, b = await manager.create("a"), await manager.create("a")

    async def read_after_sleep(expected: object) -> None:
        await asyncio.sleep(0)
        assert current_session() is expected

    async def run_with(session: object) -> None:
        with use_session(session):  # type: ignore[arg-type]
            await asyncio.sleep(0)
            await read_after_sleep(session)
            await asyncio.create_task(read_after_sleep(session))

    await asyncio.gather(run_with(a), run_with(b))
    with pytest.raises(NoSessionInContext):
        current_session()


def test_as_a_decorator_each_call_is_its_own_block() -> None:
    manager = SessionManager("memory://")
    session = manager.create("a")

    @use_session(session)
    def inside(depth: int) -> object:
        if depth:
            return inside(depth - 1)  # re-entered: a block of its own
        return current_session()

    assert inside(2) is session and inside(0) is session
    with pytest.raises(NoSessionInContext):
        current_session()


def test_a_block_is_entered_once() -> None:
    manager = SessionManager("memory://")
    block = use_session(manager.create("a"))
    with block, pytest.raises(RuntimeError, match="entered once"), block:
        pass
    with pytest.raises(NoSessionInContext):
        current_session()
