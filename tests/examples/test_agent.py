"""The demo agent: memory from the history alone; the network only when configured."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from example_projects.shared.agent import OpenAIChatAgent, RememberingAgent, make_agent


def talk(agent: RememberingAgent, *lines: str) -> list[str]:
    history: list[dict[str, str]] = []
    replies = []
    for line in lines:
        history.append({"role": "user", "content": line})
        replies.append(agent.reply(history))
        history.append({"role": "assistant", "content": replies[-1]})
    return replies


def test_remembers_a_name_told_earlier() -> None:
    replies = talk(RememberingAgent(), "My name is Alice.", "nice weather", "What is my name?")
    assert replies[0] == "Nice to meet you, Alice! Ask me later: I will remember."
    assert replies[2] == "Your name is Alice."


def test_says_so_when_it_does_not_know() -> None:
    (reply,) = talk(RememberingAgent(), "what is my name?")
    assert "don't know your name" in reply


def test_knows_only_what_the_history_holds() -> None:
    # A fresh history (a restored checkpoint, another session): nothing known.
    agent = RememberingAgent()
    assert agent.reply([{"role": "user", "content": "who am I?"}]).startswith("I don't know")
    told = [
        {"role": "user", "content": "my name is Bob"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "who am I?"},
    ]
    assert agent.reply(told) == "Your name is Bob."


def test_facts_and_their_latest_value() -> None:
    replies = talk(
        RememberingAgent(),
        "My favorite colour is green.",
        "I'm back",  # not a name
        "Actually my favourite colour is red",
        "what's my favourite colour?",
        "what is my name?",
        "I am Carol Smith and I like tea",
        "what do you know about me?",
    )
    assert replies[0] == "Got it: your favourite colour is green."
    assert replies[3] == "Your favourite colour is red."
    assert replies[4].startswith("I don't know your name")
    assert replies[6] == (
        "On this branch I remember: your favourite colour is red; your name is Carol Smith."
    )


def test_make_agent_stays_offline_without_configuration() -> None:
    assert isinstance(make_agent({}), RememberingAgent)
    assert isinstance(make_agent({"OPENAI_API_KEY": ""}), RememberingAgent)
    remote = make_agent({"OPENAI_API_KEY": "k", "OPENAI_MODEL": "m"})
    assert isinstance(remote, OpenAIChatAgent)
    assert (remote.base_url, remote.model) == ("https://api.openai.com/v1", "m")


class _FakeCompletions(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint on loopback that echoes what it was sent."""

    seen: list[dict[str, Any]] = []  # noqa: RUF012 - shared on purpose, per test

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers["Authorization"], **body})
        last = body["messages"][-1]["content"]
        answer = json.dumps({"choices": [{"message": {"content": f"echo: {last}"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def completions_url() -> Iterator[str]:
    _FakeCompletions.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_openai_agent_sends_the_history(completions_url: str) -> None:
    agent = make_agent({"OPENAI_BASE_URL": completions_url, "OPENAI_API_KEY": "sk-test"})
    history = [
        {"role": "user", "content": "My name is Alice."},
        {"role": "assistant", "content": "Hi Alice"},
        {"role": "user", "content": "What is my name?"},
    ]
    assert agent.reply(history) == "echo: What is my name?"
    (request,) = _FakeCompletions.seen
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["model"] == "gpt-4o-mini"
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][1:] == history


def test_openai_agent_reports_an_unreachable_model() -> None:
    # A closed port on loopback: the reply says so instead of raising.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCompletions)
    port = server.server_address[1]
    server.server_close()
    agent = OpenAIChatAgent(api_key=None, base_url=f"http://127.0.0.1:{port}", timeout=5)
    reply = agent.reply([{"role": "user", "content": "hi"}])
    assert reply.startswith(f"(the model at http://127.0.0.1:{port} could not answer")
