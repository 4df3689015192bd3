"""Token counters: the default estimate and the ``tiktoken`` one, driven by an
encoding built here (``tiktoken`` downloads its named encodings, which this
test must not need)."""

from __future__ import annotations

from typing import Any

import pytest

from agentsession import SessionManager, approx_tokens, tiktoken_counter


def _byte_encoding() -> Any:
    """One token per byte, except "ab" (a merge): enough to tell a real
    tokenizer's count from a character estimate."""
    tiktoken = pytest.importorskip("tiktoken", reason="the tiktoken extra is not installed")
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"ab"] = 256
    return tiktoken.Encoding(
        name="bytes-and-ab",
        pat_str=r"\S+|\s+",
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 257},
    )


def test_tiktoken_counts_the_message_text_with_the_encoding() -> None:
    count = tiktoken_counter(_byte_encoding())
    assert count({"role": "user", "content": "abab c"}) == 2 + 2 + 4  # ab ab, " c", framing
    parts = {"role": "assistant", "content": [{"type": "output_text", "text": "xyz"}]}
    assert count(parts) == 3 + 4  # the text only: never "output_text" or the role
    # Special-token text is counted as text, never refused.
    assert count({"role": "user", "content": "<|endoftext|>"}) == len("<|endoftext|>") + 4
    # No text at all: its canonical JSON.
    assert count({"role": "tool"}) == len('{"role":"tool"}') + 4
    assert approx_tokens({"role": "user", "content": "abab c"}) != count(
        {"role": "user", "content": "abab c"}
    )


def test_a_window_read_with_the_tiktoken_counter(tmp_path: Any) -> None:
    count = tiktoken_counter(_byte_encoding())
    with SessionManager(f"sqlite:///{tmp_path}/w.db") as manager:
        s = manager.create("bot")
        s.extend([{"role": "user", "content": "ab" * n} for n in range(1, 7)])
        # Costs of the newest: 6+4, 5+4, 4+4 -> 27 fits in 27, a fourth does not.
        window = s.messages(max_tokens=27, count=count)
        assert [m.data["content"] for m in window] == ["ab" * 4, "ab" * 5, "ab" * 6]
