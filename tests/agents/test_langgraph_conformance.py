"""LangGraph's own conformance suite (``langgraph-checkpoint-conformance``,
from PyPI) on every store: base capabilities and every extended one it
detects, async (what the suite drives) and sync (the same calls through a
``SessionManager``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.agents.conftest import need

need("langgraph.checkpoint.conformance", "langgraph")

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

from agentsession import AsyncSessionManager, SessionManager
from agentsession.integrations.langgraph import AgentSessionSaver

# Extended capabilities this saver implements (the suite detects them by override).
pytestmark = pytest.mark.asyncio

IMPLEMENTED = {Capability.COPY_THREAD, Capability.DELETE_FOR_RUNS, Capability.PRUNE}


def _check(report: Any) -> None:
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    assert report.passed_all(), failures
    for capability in IMPLEMENTED:
        result = report.results[capability.value]
        assert result.detected and result.passed is True and result.tests_passed > 0, result


async def test_conformance_async(store_url: str) -> None:
    async def saver() -> AsyncIterator[AgentSessionSaver]:
        manager = AsyncSessionManager(store_url)
        try:
            yield AgentSessionSaver(manager, user_key=None)
        finally:
            await manager.close()

    _check(await validate(checkpointer_test(name="AgentSessionSaver")(saver)))


async def test_conformance_redis_cluster() -> None:
    # CI starts a cluster and names it (.ci/run); elsewhere, only when given.
    url = os.environ.get("AGENTSESSION_TEST_REDIS_CLUSTER_URL")
    if not url:
        pytest.skip("no Redis Cluster: set AGENTSESSION_TEST_REDIS_CLUSTER_URL")
    from tests.core.stores.redis.test_redis_support import purge, unique_prefix, with_prefix

    prefix = unique_prefix()
    try:
        await test_conformance_async(with_prefix(url, prefix))
    finally:
        purge(url, prefix)


class SyncFacade(AgentSessionSaver):
    """The async methods the suite calls, answered by the sync ones in a thread:
    proves the sync path (a ``SessionManager``) against the same suite."""

    async def aget_tuple(self, config: Any) -> Any:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        for item in await asyncio.to_thread(lambda: list(self.list(config, **kwargs))):
            yield item

    async def aput(self, *args: Any) -> Any:
        return await asyncio.to_thread(self.put, *args)

    async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(lambda: self.put_writes(*args, **kwargs))

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def acopy_thread(self, source: str, target: str) -> None:
        await asyncio.to_thread(self.copy_thread, source, target)

    async def adelete_for_runs(self, run_ids: Any) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def aprune(self, thread_ids: Any, *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(lambda: self.prune(thread_ids, strategy=strategy))


@pytest.fixture
def sync_manager(store_url: str) -> Iterator[SessionManager]:
    with SessionManager(store_url) as manager:
        yield manager


async def test_conformance_sync(sync_manager: SessionManager) -> None:
    async def saver() -> AsyncIterator[AgentSessionSaver]:
        yield SyncFacade(sync_manager, user_key=None)

    _check(await validate(checkpointer_test(name="AgentSessionSaver (sync)")(saver)))
