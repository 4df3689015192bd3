"""FastAPI: the helpers as dependencies, in async and sync endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request

from agentsession import current_session
from agentsession.integrations.starlette import (
    AgentSessionMiddleware,
    AsyncLazySession,
    LazySession,
    agent_session,
    sync_session,
)

from .web_apps import TestClient
from .web_support import KEY, Backend

Async = Annotated[AsyncLazySession, Depends(agent_session)]
Sync = Annotated[LazySession, Depends(sync_session)]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    backend = Backend.create(tmp_path)
    app = FastAPI()
    app.add_middleware(
        AgentSessionMiddleware, store=backend.async_store(), agent="chat", secret_key=KEY
    )

    @app.post("/chat")
    async def chat(s: Async, text: str) -> dict[str, Any]:
        await s.append({"role": "user", "content": text})
        return {"messages": [m.data["content"] for m in await s.messages()]}

    @app.get("/history")
    def history(s: Sync) -> dict[str, Any]:  # a sync endpoint: FastAPI's threadpool
        return {"messages": [m.data["content"] for m in s.messages()], "exists": s.exists}

    @app.post("/note")
    def note(request: Request, s: Sync) -> dict[str, Any]:
        # The dependency ran in another worker thread: asking again here makes
        # current_session() this endpoint's sync view.
        assert sync_session(request) is s
        current = current_session()
        current.append({"role": "user", "content": "note"})
        return {"is_view": current is s}

    with TestClient(app) as c:
        yield c


def test_dependencies_in_async_and_sync_endpoints(client: TestClient) -> None:
    assert client.get("/history").json() == {"messages": [], "exists": False}
    created = client.post("/chat", params={"text": "hi"})
    assert created.json() == {"messages": ["hi"]} and created.headers["x-session-id"]
    client.post("/chat", params={"text": "again"})
    assert client.get("/history").json() == {"messages": ["hi", "again"], "exists": True}
    unknown = client.get("/history", headers={"X-Session-ID": "no-such-session-00"})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "session_not_found", "message": "session not found"}


def test_current_session_in_a_sync_endpoint(client: TestClient) -> None:
    reply = client.post("/note")
    assert reply.json() == {"is_view": True}
    assert client.get("/history").json() == {"messages": ["note"], "exists": True}
