"""A Starlette app that streams an agent's turn, for the disconnect test.

``python -m tests.agents.stream_app DB_PATH PORT`` serves on 127.0.0.1:PORT.
``POST /chat/{id}`` streams the agent's words as they come; the turn is
recorded when the agent finishes. ``GET /chat/{id}`` lists the stored messages.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentsession import AsyncSessionManager


async def slow_agent(text: str, session: Any) -> AsyncIterator[str]:
    for i in range(40):
        await asyncio.sleep(0.05)
        yield f"word{i} "


def make_app(url: str) -> Starlette:
    manager = AsyncSessionManager(url)

    async def chat(request: Request) -> Response:
        session = await manager.attach(request.path_params["id"], "streamer")
        stream = await session.stream(slow_agent, (await request.body()).decode())

        async def body() -> AsyncIterator[str]:
            async for chunk in stream:
                yield str(chunk)

        return StreamingResponse(body(), media_type="text/plain")

    async def stored(request: Request) -> Response:
        session = await manager.find(request.path_params["id"])
        messages = await session.messages() if session is not None else []
        return JSONResponse([m.data["content"] for m in messages])

    return Starlette(
        routes=[Route("/chat/{id}", chat, methods=["POST"]), Route("/chat/{id}", stored)]
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(f"sqlite:///{sys.argv[1]}"), host="127.0.0.1", port=int(sys.argv[2]))
