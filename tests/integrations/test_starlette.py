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

from agentsession import NoSessionInContext, Session, current_session
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
    loop_keeps_async = current_session() is handle
    view_id = sync_session(request).id  # called on the loop: the context is left alone
    loop_keeps_async = loop_keeps_async and current_session() is handle
    return JSONResponse(
        {"contents": contents, "same_id": handle.id == view_id, "async_on_loop": loop_keeps_async}
    )


def _by_current_session(request: Request) -> Response:
    # A sync endpoint: after sync_session(request), current_session() is the
    # sync view, called without await.
    view = sync_session(request)
    current = current_session()
    entry = current.append({"role": "user", "content": "via current_session"})
    return JSONResponse(
        {
            "is_view": current is view,
            "entry_id": entry.id,  # type: ignore[union-attr]
            "messages": [m.data["content"] for m in view.messages()],
        }
    )


def _without_sync_session(request: Request) -> Response:
    # A sync endpoint that never asks for the sync view: a worker thread that
    # served _by_current_session before must not hand out that request's view.
    current = current_session()
    return JSONResponse({"is_async_handle": current is agent_session(request)})


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    backend = Backend.create(tmp_path)
    app = Starlette(
        routes=[
            Route("/sync", _sync_endpoint, methods=["POST"]),
            Route("/mixed", _mixed),
            Route("/current", _by_current_session, methods=["POST"]),
            Route("/plain", _without_sync_session),
        ],
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
    assert reply.json() == {"contents": ["async", "sync"], "same_id": True, "async_on_loop": True}
    # One session created, announced once.
    assert len(reply.headers.get_list("set-cookie")) == 1


def test_current_session_is_the_sync_view_in_a_sync_endpoint(client: TestClient) -> None:
    first = client.post("/current")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["is_view"] and body["entry_id"]
    assert body["messages"] == ["via current_session"]
    assert first.headers["x-session-id"]  # created through it, announced
    assert client.post("/current").json()["messages"] == ["via current_session"] * 2
    # The worker threads are reused; the view set in one request's copy of
    # the context is gone after it.
    for _ in range(5):
        assert client.get("/plain").json() == {"is_async_handle": True}
    with pytest.raises(NoSessionInContext):
        current_session()


def test_helpers_without_the_middleware() -> None:
    def endpoint(request: Request) -> Response:
        agent_session(request)
        return Response()

    with TestClient(Starlette(routes=[Route("/", endpoint)])) as c, pytest.raises(RuntimeError):
        c.get("/")
