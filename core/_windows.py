"""Token windows: how much of a conversation fits a model's context (no I/O).

A window is the newest messages whose cost, added up, stays within a budget.
The cost of a message is what a counter says; the default,
:func:`approx_tokens`, needs nothing installed: about one token per four
characters of the message's text (its ``content`` when that is a string,
else its canonical JSON), plus four for the message itself, as chat models
bill a few tokens of framing per message. Pass the model's own tokenizer for
exact figures, e.g. ``count=lambda m: len(encoding.encode(m["content"]))``.
See ``docs/design.md``, "Semantics".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._canonical import canonical_json
from ._search import message_text
from .extras import missing_extra

__all__ = ["TokenCounter", "approx_tokens", "tiktoken_counter"]

#: Given a message's data, its cost in tokens.
TokenCounter = Callable[[Mapping[str, Any]], int]

_PER_MESSAGE = 4


def approx_tokens(message: Mapping[str, Any]) -> int:
    """About how many tokens ``message`` costs: a quarter of its text's
    characters, rounded up, plus four (no tokenizer needed)."""
    content = message.get("content")
    text = content if isinstance(content, str) else canonical_json(dict(message))
    return -(-len(text) // 4) + _PER_MESSAGE


def tiktoken_counter(encoding: str | Any = "o200k_base") -> TokenCounter:
    """A counter that tokenizes with ``tiktoken`` (the ``tiktoken`` extra).

    A message costs the tokens of its text (the strings under ``content``,
    ``text`` and ``parts``, as search reads them; its canonical JSON when it
    has none) plus four. ``encoding``: a ``tiktoken.Encoding``, or the name
    of one (``"o200k_base"`` for the GPT-4o family, ``"cl100k_base"`` for
    GPT-4). A name is loaded here, once: ``tiktoken`` downloads an encoding's
    file the first time it is used on a machine, which is why this is not
    the default counter.
    """
    try:
        import tiktoken
    except ImportError as exc:
        raise missing_extra("tiktoken_counter", "tiktoken") from exc
    enc = tiktoken.get_encoding(encoding) if isinstance(encoding, str) else encoding

    def count(message: Mapping[str, Any]) -> int:
        text = message_text(message) or canonical_json(dict(message))
        return len(enc.encode(text, disallowed_special=())) + _PER_MESSAGE

    return count
