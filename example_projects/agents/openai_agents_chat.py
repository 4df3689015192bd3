"""The OpenAI Agents SDK's Runner with an agentsession session.

Offline by default (the SDK's own ScriptedModel); with ``OPENAI_API_KEY`` set it
uses a real model. Run it twice: the second run sees the first's items::

    pip install 'agentsession[openai-agents]'
    python -m example_projects.agents.openai_agents_chat "My name is Ann."
"""

from __future__ import annotations

import asyncio
import os
import sys

from agents import Agent, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message

from agentsession import AsyncSessionManager
from agentsession.integrations.openai_agents import OpenAIAgentsSession


async def main(text: str) -> str:
    async with AsyncSessionManager() as sessions:
        session = OpenAIAgentsSession("openai-agents-demo", sessions, user_id="ann")
        if os.environ.get("OPENAI_API_KEY"):
            agent = Agent(name="assistant", instructions="Be brief.")
        else:
            set_tracing_disabled(True)
            seen = len(await session.get_items())
            model = ScriptedModel([[assistant_message(f"I have {seen} earlier item(s).")]])
            agent = Agent(name="assistant", model=model)
        result = await Runner.run(agent, text, session=session)
        return str(result.final_output)


if __name__ == "__main__":
    print(asyncio.run(main(" ".join(sys.argv[1:]) or "Hello")))
