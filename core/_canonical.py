"""Canonical JSON, digests and checksums: the bytes every store holds.

Canonical JSON is ``sort_keys``, compact separators and UTF-8. Values must be
JSON in the strict sense -- ``dict`` with ``str`` keys, ``list``, ``str``,
``int``, finite ``float``, ``bool`` and ``None`` -- so that what is read back
equals what was written, on every store. NaN, Infinity and the NUL character
are refused (PostgreSQL cannot store them). No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

from ._exceptions import InvalidInput, LimitExceeded

__all__ = [
    "DEFAULT_MAX_ENTRY_BYTES",
    "canonical_json",
    "checksum",
    "entry_digest",
    "load_json_object",
    "recompute_digest",
]

#: Largest canonical encoding of one entry's data, in bytes (16 MiB).
DEFAULT_MAX_ENTRY_BYTES = 16 * 1024 * 1024

_encoder = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
)


def _check_object(value: dict[Any, Any], path: str, depth: int) -> None:
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(f"non-string key {key!r} at {path}")
        if "\x00" in key:
            raise InvalidInput(f"NUL character in key at {path}")
        # Inline the commonest case (a string value) to keep appends cheap.
        if type(item) is str:
            if "\x00" in item:
                raise InvalidInput(f"NUL character in string at {path}.{key}")
        else:
            _check(item, f"{path}.{key}", depth + 1)


def _check(value: Any, path: str, depth: int) -> None:
    # An explicit walk: json.dumps would silently turn tuples into lists and
    # int keys into strings, so the data read back would differ.
    if depth > 200:
        raise InvalidInput(f"data nested too deeply at {path}")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"NUL character in string at {path}")
    elif value is None or isinstance(value, bool | int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"non-finite number at {path}")
    elif isinstance(value, dict):
        _check_object(value, path, depth)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
    else:
        raise InvalidInput(f"{type(value).__name__} at {path} is not JSON")


def canonical_json(value: Any, *, max_bytes: int | None = None) -> str:
    """Validate ``value`` and return its canonical JSON text.

    Raises:
        InvalidInput: the value is not strict JSON (see module docstring).
        LimitExceeded: the encoding is larger than ``max_bytes``.
    """
    _check(value, "$", 0)
    text = _encoder.encode(value)
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate: not representable in UTF-8, so no store could hold it.
            raise InvalidInput("string with a lone surrogate is not valid UTF-8") from None
    if max_bytes is not None and size > max_bytes:
        raise LimitExceeded(f"entry data is {size} bytes; the limit is {max_bytes}")
    return text


def load_json_object(text: str | bytes) -> dict[str, Any]:
    """Parse stored JSON that must be an object (stores use this on read)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidInput("stored JSON is not an object")
    return value


_KIND_JSON: dict[str, str] = {}


def entry_digest(kind: str, data_json: str) -> str:
    """SHA-256 (hex) of the canonical JSON of ``{"data": ..., "kind": ...}``.

    ``data_json`` must already be canonical; the object is assembled textually
    (keys in sorted order) so the data is not encoded twice.
    """
    kind_json = _KIND_JSON.get(kind)
    if kind_json is None:
        kind_json = _KIND_JSON.setdefault(kind, _encoder.encode(kind))
    payload = '{"data":' + data_json + ',"kind":' + kind_json + "}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def recompute_digest(kind: str, data: Any) -> str:
    """Digest of decoded data, as :func:`restore` re-derives it for verification."""
    return entry_digest(kind, _encoder.encode(data))


def checksum(digests: Iterable[str]) -> str:
    """SHA-256 (hex) over the digests of a path, root first."""
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()
