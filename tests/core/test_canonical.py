"""Canonical JSON, digests and id validation."""

from __future__ import annotations

import hashlib
import json
import math
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from agentsession import IntegrityError, InvalidInput, LimitExceeded
from agentsession._canonical import (
    StoredJSON,
    canonical_json,
    checksum,
    entry_digest,
    recompute_digest,
)
from agentsession._ids import new_id, validate_id, validate_user_id
from agentsession._rules import place_entries, prepare_entry, verify_path


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


# -- hostile data: bounded memory, bounded messages, one walk ------------------


def _nest_keys(depth: int, key_size: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {f"{level:04d}" + "k" * key_size: value}
    return value


def _peak(value: Any) -> tuple[int, str]:
    tracemalloc.start()
    try:
        try:
            outcome = canonical_json(value)
        except InvalidInput as exc:
            outcome = str(exc)
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "value",
    [
        _nest_keys(190, 10_000),  # accepted: 1.9 MB of keys, 190 levels
        _nest_keys(250, 10_000),  # refused: too deep
        {"items": list(range(300_000))},
        {"k" * 2_000 + str(i): i for i in range(500)},
    ],
)
def test_validation_memory_is_bounded_by_the_data(value: Any) -> None:
    size = len(json.dumps(value, separators=(",", ":")))
    peak, _ = _peak(value)
    assert peak <= 3 * size, (peak, size)


def test_a_refusal_quotes_a_bounded_path() -> None:
    _, message = _peak(_nest_keys(250, 10_000))
    assert "nested too deeply" in message
    assert len(message) < 1_000, len(message)
    _, message = _peak({"a" * 5_000: {"b": [0, {"c": math.nan}]}})
    assert message.startswith("non-finite number at $.aaaa") and message.endswith(".b[1].c")
    assert len(message) < 200


@pytest.mark.parametrize(
    ("value", "hint"),
    [({"x": (1, 2)}, "use a list"), ({"x": {1}}, "sorted list"), ({"x": b"a"}, "base64")],
)
def test_a_refusal_says_what_to_use_instead(value: Any, hint: str) -> None:
    with pytest.raises(InvalidInput, match=hint):
        canonical_json(value)


def test_subclasses_of_json_types_are_still_json() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    assert canonical_json({"n": Name("x"), "c": Count(3)}) == '{"c":3,"n":"x"}'


def test_escaped_nul_next_to_a_real_one_is_still_refused() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        canonical_json({"a": "\\u0000", "b": "x\x00"})
    with pytest.raises(InvalidInput, match="NUL character in key"):
        canonical_json({"ok": 1, "b\x00": 1})


def test_a_cycle_is_refused_not_looped_over() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInput, match="nested too deeply"):
        canonical_json({"x": loop})


def test_stored_json_is_decoded_only_when_read() -> None:
    text = canonical_json({"role": "user", "content": "hi"})
    data = StoredJSON(text)
    assert data._value is None
    # A digest of the stored text is the digest of the data it encodes ...
    assert recompute_digest("message", data) == entry_digest("message", text)
    assert data._value is None  # ... found without decoding it
    assert data == {"content": "hi", "role": "user"} == dict(data)
    assert len(data) == 2 and data["role"] == "user"
    # The digest proves the bytes: the same object written another way differs.
    loose = StoredJSON(json.dumps({"role": "user", "content": "hi"}))
    assert loose == data and recompute_digest("message", loose) != recompute_digest("message", data)
    with pytest.raises(InvalidInput):
        len(StoredJSON("[1, 2]"))


def test_verify_path_hashes_stored_text_without_decoding() -> None:
    now = datetime.now(UTC)
    entries = place_entries(
        [prepare_entry("message", {"n": i}, now, None) for i in range(3)],
        parent_id=None,
        parent_depth=0,
        message_count=0,
        max_messages=None,
    )
    stored = [replace(e, data=StoredJSON(canonical_json(dict(e.data)))) for e in entries]
    verify_path(stored, stored[-1].id, checksum(e.digest for e in entries))
    assert all(e.data._value is None for e in stored)  # type: ignore[attr-defined]
    stored[1] = replace(stored[1], data=StoredJSON('{"n": 1}'))
    with pytest.raises(IntegrityError, match="digest"):
        verify_path(stored, stored[-1].id, checksum(e.digest for e in entries))
