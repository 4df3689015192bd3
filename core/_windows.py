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

__all__ = ["TokenCounter", "approx_tokens"]

#: Given a message's data, its cost in tokens.
TokenCounter = Callable[[Mapping[str, Any]], int]

_PER_MESSAGE = 4


def approx_tokens(message: Mapping[str, Any]) -> int:
    """About how many tokens ``message`` costs: a quarter of its text's
    characters, rounded up, plus four (no tokenizer needed)."""
    content = message.get("content")
    text = content if isinstance(content, str) else canonical_json(dict(message))
    return -(-len(text) // 4) + _PER_MESSAGE
