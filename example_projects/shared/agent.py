"""The demo's agent: everything it knows comes from the session history.

:class:`RememberingAgent` is deterministic and offline. Tell it "my name is
Alice" and later, even after the server restarted, ask "what is my name?".
Restore a checkpoint taken before you told it, and it no longer knows: its
memory *is* the current branch of the session.

:class:`OpenAIChatAgent` sends the same history to an OpenAI-compatible chat
completions endpoint with nothing but the standard library. :func:`make_agent`
picks it only when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set; otherwise
nothing here ever opens a network connection.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["Agent", "OpenAIChatAgent", "RememberingAgent", "make_agent"]

History = Sequence[Mapping[str, Any]]


class Agent(Protocol):
    """Anything that turns a conversation (oldest message first) into a reply."""

    label: str

    def reply(self, history: History) -> str: ...


# A second name word only counts when capitalised: "Alice Smith", not "Alice and ...".
_NAME = re.compile(r"(?i:\b(my name is|call me|i am|i'm))\s+([A-Za-z][\w'-]*(?: [A-Z][\w'-]*)?)")
_FACT = re.compile(r"\bmy ([a-z][a-z' ]{0,30}?) (?:is|are) ([^.!?;]+)", re.IGNORECASE)
_ASK = re.compile(r"\bwhat(?:'s| is| are|s)? my ([a-z][a-z' ]{0,30}?)\s*\??\s*$", re.IGNORECASE)
_WHO = re.compile(r"\b(?:who am i|do you (?:know|remember) (?:me|my name))\b", re.IGNORECASE)
_ALL = re.compile(r"\bwhat do you (?:know|remember)\b", re.IGNORECASE)
_HELLO = re.compile(r"^\s*(?:hi|hello|hey)\b", re.IGNORECASE)


def _key(thing: str) -> str:
    return " ".join(thing.lower().replace("favorite", "favourite").split())


def _facts(text: str) -> dict[str, str]:
    """Facts one message states: ``{"name": "Alice", "favourite colour": "green"}``."""
    found = {_key(m[1]): m[2].strip() for m in _FACT.finditer(text)}
    name = _NAME.search(text)
    # "I'm back" is not a name: "I am"/"I'm" only count before a capitalised word.
    if name and (name[1].lower().startswith(("my", "call")) or name[2][:1].isupper()):
        found["name"] = name[2].strip()
    elif "name" in found and not name:
        del found["name"]
    return found


class RememberingAgent:
    """A deterministic agent that answers from what the history says."""

    label = "built-in demo agent (offline)"

    def reply(self, history: History) -> str:
        said = [str(m.get("content", "")) for m in history if m.get("role") == "user"]
        if not said:
            return "Say something: tell me your name, and ask me about it later."
        question, earlier = said[-1], said[:-1]
        known: dict[str, str] = {}
        for text in earlier:
            known.update(_facts(text))
        return self._answer(question, known, len(said))

    def _answer(self, text: str, known: dict[str, str], count: int) -> str:
        if _WHO.search(text):
            return self._recall("name", known)
        if _ALL.search(text):
            if not known:
                return "Nothing yet: this branch of our conversation holds no facts about you."
            facts = "; ".join(f"your {k} is {v}" for k, v in sorted(known.items()))
            return f"On this branch I remember: {facts}."
        asked = _ASK.search(text)
        if asked:
            return self._recall(_key(asked[1]), known)
        told = _facts(text)
        if "name" in told:
            return f"Nice to meet you, {told['name']}! Ask me later: I will remember."
        if told:
            thing, value = next(iter(told.items()))
            return f"Got it: your {thing} is {value}."
        if _HELLO.search(text):
            who = f", {known['name']}" if "name" in known else ""
            return f"Hello{who}! This is message {count} of yours in this conversation."
        return (
            'I only know what this conversation holds. Tell me "my name is ..." or '
            '"my favourite colour is ...", then ask "what is my name?" - even after a restart.'
        )

    @staticmethod
    def _recall(thing: str, known: dict[str, str]) -> str:
        if thing in known:
            return f"Your {thing} is {known[thing]}."
        return f'I don\'t know your {thing} yet. Tell me: "my {thing} is ...".'


class OpenAIChatAgent:
    """Calls an OpenAI-compatible ``/chat/completions`` endpoint (stdlib only)."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = "https://api.openai.com/v1",
        model: str = "gpt-4o-mini",
        timeout: float = 60.0,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.label = f"{model} via {self.base_url}"

    def reply(self, history: History) -> str:
        messages = [{"role": "system", "content": "You are a concise, friendly assistant."}]
        messages += [{"role": str(m["role"]), "content": str(m["content"])} for m in history]
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps({"model": self.model, "messages": messages}).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.load(response)
            return str(body["choices"][0]["message"]["content"])
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            # urllib.error.URLError is an OSError; the reply says what went wrong.
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return f"(the model at {self.base_url} could not answer: {reason})"


def make_agent(environ: Mapping[str, str] | None = None) -> Agent:
    """The OpenAI agent when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set,
    else the offline :class:`RememberingAgent`."""
    env = os.environ if environ is None else environ
    key, base = env.get("OPENAI_API_KEY"), env.get("OPENAI_BASE_URL")
    if not key and not base:
        return RememberingAgent()
    return OpenAIChatAgent(
        api_key=key or None,
        base_url=base or "https://api.openai.com/v1",
        model=env.get("OPENAI_MODEL") or "gpt-4o-mini",
    )
