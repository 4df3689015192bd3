"""A LangChain chat model with agentsession history (``RunnableWithMessageHistory``).

Offline by default (a fake chat model from ``langchain_core``). Run it twice:
the second run gets the first's messages::

    pip install 'agentsession[langchain]'
    python -m example_projects.agents.langchain_chat "My name is Ann."
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from agentsession import SessionManager
from agentsession.integrations.langchain import AgentSessionChatMessageHistory


def main(text: str) -> str:
    with SessionManager() as sessions:
        history = AgentSessionChatMessageHistory("langchain-demo", sessions, user_id="ann")
        model = FakeListChatModel(responses=[f"I have {len(history.messages)} earlier message(s)."])
        prompt = ChatPromptTemplate.from_messages(
            [MessagesPlaceholder("history"), ("human", "{question}")]
        )
        with warnings.catch_warnings():  # deprecated in favour of LangGraph, still common
            warnings.simplefilter("ignore", DeprecationWarning)
            chain = RunnableWithMessageHistory(
                prompt | model,
                lambda _: history,
                input_messages_key="question",
                history_messages_key="history",
            )
        config: Any = {"configurable": {"session_id": "langchain-demo"}}
        return str(chain.invoke({"question": text}, config=config).content)


if __name__ == "__main__":
    print(main(" ".join(sys.argv[1:]) or "Hello"))
