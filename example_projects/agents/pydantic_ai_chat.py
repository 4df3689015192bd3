"""A Pydantic AI agent whose runs are recorded as atomic agentsession turns.

Offline by default (Pydantic AI's FunctionModel); with ``OPENAI_API_KEY`` set it
uses ``openai:gpt-4o-mini``. Run it twice: the second run sees the first::

    pip install 'agentsession[pydantic-ai]'
    python -m example_projects.agents.pydantic_ai_chat "My name is Ann."
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentsession import AsyncSessionManager
from agentsession.integrations.pydantic_ai import run_with_session


def offline(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(f"I have {len(messages) - 1} earlier message(s).")])


async def main(text: str) -> str:
    real = os.environ.get("OPENAI_API_KEY")
    model: Any = "openai:gpt-4o-mini" if real else FunctionModel(offline)
    async with AsyncSessionManager() as sessions:
        session = await sessions.attach("pydantic-ai-demo", "assistant", user_id="ann")
        run = await run_with_session(Agent(model), text, session)
        return str(run.output)


if __name__ == "__main__":
    print(asyncio.run(main(" ".join(sys.argv[1:]) or "Hello")))
