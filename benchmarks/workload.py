"""The messages every system stores: ~200 characters of text, alternating roles."""

from __future__ import annotations

from typing import Any

__all__ = ["CONTENT_CHARS", "message", "messages"]

CONTENT_CHARS = 200

_WORDS = (
    "the",
    "agent",
    "looked",
    "up",
    "the",
    "order",
    "history",
    "and",
    "found",
    "two",
    "shipments",
    "that",
    "were",
    "delayed",
    "at",
    "the",
    "regional",
    "depot",
    "so",
    "it",
    "offered",
    "a",
    "refund",
    "for",
    "the",
    "shipping",
    "fee",
    "and",
    "asked",
    "whether",
    "the",
    "customer",
    "wanted",
    "the",
    "remaining",
    "items",
    "sent",
    "together",
)


def _text(i: int) -> str:
    words: list[str] = [f"#{i}"]
    size = len(words[0]) + 1  # the joined length so far, with one space a word
    k = i
    while size < CONTENT_CHARS:
        k = (k * 1103515245 + 12345) & 0x7FFFFFFF
        word = _WORDS[k % len(_WORDS)]
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:CONTENT_CHARS]


def message(i: int) -> dict[str, Any]:
    """The i-th message: ``{"role": ..., "content": <200 chars>}``."""
    return {"role": "user" if i % 2 == 0 else "assistant", "content": _text(i)}


def messages(start: int, count: int) -> list[dict[str, Any]]:
    return [message(i) for i in range(start, start + count)]
