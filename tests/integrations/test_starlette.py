"""Starlette helpers: ``agent_session`` and the sync view for sync endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentsession import Session
from agentsession.integrations.starlette import (
    AgentSessionMiddleware,
    LazySession,
    agent_session,
    sync_session,
)

from .web_apps import TestClient
from .web_support import KEY, Backend


def _sync_endpoint(request: Request) -> Response:
    # Runs in a worker thread: the sync view calls the store through the loop.
    view = sync_session(request)
    assert view is sync_session(request)  # one view per request
    view.append({"role": "user", "content": "sync"})
    stored = view.get()
    return JSONResponse(
        {
            "messages": [m.data["content"] for m in view.messages()],
            "is_session": isinstance(stored, Session),
            "is_lazy": isinstance(view, LazySession),
        }
    )


async def _mixed(request: Request) -> Response:
    # The async handle creates the session; the sync view (in a thread) sees it.
    from starlette.concurrency import run_in_threadpool

    handle = agent_session(request)
    await handle.append({"role": "user", "content": "async"})

    def in_thread() -> list[str]:
        view = sync_session(request)
        view.append({"role": "assistant", "content": "sync"})
        return [m.data["content"] for m in view.messages()]

    contents = await run_in_threadpool(in_thread)
    return JSONResponse({"contents": contents, "same_id": handle.id == sync_session(request).id})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    backend = Backend.create(tmp_path)
    app = Starlette(
        routes=[Route("/sync", _sync_endpoint, methods=["POST"]), Route("/mixed", _mixed)],
        middleware=[
            Middleware(
                AgentSessionMiddleware, store=backend.async_store(), agent="chat", secret_key=KEY
            )
        ],
    )
    with TestClient(app) as c:
        yield c


def test_sync_endpoint_creates_and_reads(client: TestClient) -> None:
    first = client.post("/sync")
    assert first.json() == {"messages": ["sync"], "is_session": True, "is_lazy": True}
    assert first.headers["x-session-id"]
    assert client.post("/sync").json()["messages"] == ["sync", "sync"]


def test_async_handle_and_sync_view_share_one_session(client: TestClient) -> None:
    reply = client.get("/mixed")
    assert reply.json() == {"contents": ["async", "sync"], "same_id": True}
    # One session created, announced once.
    assert len(reply.headers.get_list("set-cookie")) == 1


def test_helpers_without_the_middleware() -> None:
    def endpoint(request: Request) -> Response:
        agent_session(request)
        return Response()

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as c, pytest.raises(RuntimeError):
        c.get("/")
