"""The ASGI handler in the test's own event loop (``async_client``), without
``async_to_sync`` in between: what an ASGI server does."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import AsyncClient

from agentsession import UNCHECKED, NoSessionInContext, current_session
from agentsession.integrations.django.conf import agentsession_settings

from .web import COOKIE, HEADER

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def contents(response: Any) -> list[str]:
    return list(json.loads(response.content)["messages"])


async def post(client: AsyncClient, path: str, content: str) -> Any:
    return await client.post(path, {"content": content}, content_type="application/json")


async def test_round_trip_in_the_servers_loop(async_client: AsyncClient) -> None:
    first = await post(async_client, "/async/chat", "one")
    session_id = first[HEADER]
    assert first.cookies[COOKIE].value.startswith(session_id)
    assert contents(await post(async_client, "/async/chat", "two")) == ["one", "two"]
    by_header = await AsyncClient().get("/async/chat", headers={HEADER: session_id})
    assert contents(by_header) == ["one", "two"]
    # A sync view under ASGI serves the same session, synchronously.
    sync = await async_client.get("/sync/chat")
    assert json.loads(sync.content)["handle"] == "LazySession"
    assert contents(sync) == ["one", "two"]


async def test_contextvar_is_reset_in_the_callers_context(async_client: AsyncClient) -> None:
    # The view runs in this very task: the middleware must leave it as it found it.
    response = await async_client.get("/async/plain")
    assert json.loads(response.content)["current_is_handle"] is True
    with pytest.raises(NoSessionInContext):
        current_session()


async def test_streaming_body_sees_the_session(async_client: AsyncClient) -> None:
    await post(async_client, "/async/chat", "streamed")
    response: Any = await async_client.get("/async/stream")
    chunks = [chunk async for chunk in response.streaming_content]
    assert b"".join(chunks) == b'"streamed"\n'
    with pytest.raises(NoSessionInContext):
        current_session()


async def test_one_async_manager_per_event_loop(async_client: AsyncClient) -> None:
    await async_client.get("/async/chat")
    first = agentsession_settings.async_manager()
    assert agentsession_settings.async_manager() is first


async def test_public_managers_serve_the_apps_store(async_client: AsyncClient) -> None:
    from agentsession.integrations.django import async_session_manager, session_manager

    created = await post(async_client, "/async/chat", "listed")
    rows = await async_session_manager().list("assistant")
    assert [r.id for r in rows] == [created[HEADER]]
    assert session_manager() is agentsession_settings.sync_manager()


async def test_async_store_setting_serves_async_views(
    async_client: AsyncClient, settings: Any
) -> None:
    from agentsession.integrations.django.store import AsyncDjangoStore

    from .ormstore import CountingStore

    counting = CountingStore()
    async_store = AsyncDjangoStore(sync=counting)
    settings.AGENTSESSION = {**settings.AGENTSESSION, "ASYNC_STORE": async_store}
    await post(async_client, "/async/chat", "through the async store")
    assert "create_session" in counting.calls and "append" in counting.calls
    before = len(counting.calls)
    sync = await async_client.get("/sync/chat")  # sync views keep the sync store
    assert contents(sync) == ["through the async store"]
    assert len(counting.calls) == before
    agentsession_settings.close()  # what a settings change or process exit does
    others = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.gather(*others)  # any close it scheduled on this loop has run
    rows = await async_store.list_sessions(
        agent=None, user_id=UNCHECKED, limit=5, offset=0, now=datetime.now(UTC)
    )
    assert len(rows) == 1  # still open: a store passed in stays its owner's to close
