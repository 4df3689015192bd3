"""Canonical JSON, digests and id validation."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest

from agentsession import InvalidInput, LimitExceeded
from agentsession._canonical import canonical_json, checksum, entry_digest, recompute_digest
from agentsession._ids import new_id, validate_id, validate_user_id


def test_canonical_form() -> None:
    assert (
        canonical_json({"b": 1, "a": [1.5, "é", None, True]}) == '{"a":[1.5,"é",null,true],"b":1}'
    )


@pytest.mark.parametrize(
    "value",
    [
        {"x": math.nan},
        {"x": -math.inf},
        {"x": "a\x00b"},
        {"a\x00": 1},
        {"x": {1, 2}},
        {"x": (1, 2)},
        {1: "x"},
        {"x": b"raw"},
        {"x": object()},
        {"x": "\ud800"},
        {"\udfff": 1},
    ],
)
def test_refused_values(value: Any) -> None:
    with pytest.raises(InvalidInput):
        canonical_json(value)


def test_escaped_nul_text_is_fine() -> None:
    # A backslash followed by "u0000" is ordinary text, not a NUL character.
    assert json.loads(canonical_json({"x": "\\u0000"})) == {"x": "\\u0000"}


def test_size_limit_counts_utf8_bytes() -> None:
    canonical_json({"x": "é" * 10}, max_bytes=30)
    with pytest.raises(LimitExceeded):
        canonical_json({"x": "é" * 20}, max_bytes=30)


def test_deep_nesting_is_refused() -> None:
    value: Any = []
    for _ in range(300):
        value = [value]
    with pytest.raises(InvalidInput):
        canonical_json({"x": value})


def test_digest_is_sha256_of_canonical_kind_and_data() -> None:
    data = {"role": "user", "content": "hi"}
    expected = hashlib.sha256(
        json.dumps(
            {"kind": "message", "data": data}, sort_keys=True, separators=(",", ":")
        ).encode()
    ).hexdigest()
    assert entry_digest("message", canonical_json(data)) == expected
    assert recompute_digest("message", data) == expected
    assert checksum([]) == hashlib.sha256(b"").hexdigest()
    assert checksum(["a", "b"]) != checksum(["b", "a"])


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 129, "{tag}", "é", None, 5])
def test_invalid_ids(bad: object) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_id(bad)
    assert str(bad) not in str(info.value) or bad in ("", None, 5)


def test_generated_ids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(validate_id(i) == i and len(i) == 22 for i in ids)


def test_user_ids() -> None:
    assert validate_user_id("alice@example.com/../x") == "alice@example.com/../x"
    for bad in ("", "x" * 257, "a\x00", "\ud800", 3):
        with pytest.raises(InvalidInput):
            validate_user_id(bad)
