"""Canonical JSON, digests and checksums: the bytes every store holds.

Canonical JSON is ``sort_keys``, compact separators and UTF-8. Values must be
JSON in the strict sense -- ``dict`` with ``str`` keys, ``list``, ``str``,
``int``, finite ``float``, ``bool`` and ``None`` -- so that what is read back
equals what was written, on every store. NaN, Infinity and the NUL character
are refused (PostgreSQL cannot store them). No pickle anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NoReturn

from ._exceptions import InvalidInput, LimitExceeded

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_ENTRY_BYTES",
    "DEFAULT_MAX_METADATA_BYTES",
    "MAX_DEPTH",
    "StoredJSON",
    "canonical_json",
    "chain_checksum",
    "checksum",
    "checksum_matches",
    "entry_digest",
    "is_chained",
    "load_json_object",
    "load_object_page",
    "recompute_digest",
    "scan_json",
]

#: Largest canonical encoding of one entry's data, in bytes (16 MiB).
DEFAULT_MAX_ENTRY_BYTES = 16 * 1024 * 1024
#: Largest canonical encoding of a session's or a checkpoint's metadata (64 KiB):
#: metadata is re-read with every row, so it is kept to what labels need.
DEFAULT_MAX_METADATA_BYTES = 64 * 1024
#: Most entries one write takes (``extend``, an import is not a write).
DEFAULT_MAX_BATCH = 10_000

_encoder = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
)


#: Deepest nesting accepted (the outer object is level 0).
MAX_DEPTH = 200
#: What an error message quotes of one key, and how many path steps it shows.
_KEY_QUOTE = 40
_PATH_STEPS = 8

_SCALARS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = frozenset({dict, list})
_JSON_TYPES = _SCALARS | _CONTAINERS


def _plain(value: Any) -> bool:
    """Whether ``value`` is surely strict JSON of exact built-in types, within
    ``MAX_DEPTH``, apart from what the encoder itself checks (NaN) or what is
    found in its output (NUL). ``False`` only means "look closer"
    (:func:`_refuse` decides).

    Each container's item types are collected in C (``set(map(type, ...))``),
    so scalars cost no Python work; only nested containers are visited, depth
    first, and the walk holds one iterator per level, never a copy.
    """
    if type(value) not in _CONTAINERS:
        return type(value) in _SCALARS
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        depth = len(stack) - 1
        for item in stack[-1]:
            if depth > MAX_DEPTH:
                return False
            if type(item) is dict:
                if item and set(map(type, item)) != {str}:
                    return False
                children: Any = item.values()
            else:
                children = item
            kinds = set(map(type, children))
            if kinds <= _SCALARS:
                continue
            if not kinds <= _JSON_TYPES:
                return False
            if kinds <= _CONTAINERS:
                stack.append(iter(children))
            else:
                stack.append(c for c in children if type(c) is dict or type(c) is list)
            break
        else:
            stack.pop()
    return True


def _where(steps: list[Any]) -> str:
    """A JSON path for an error message, bounded whatever the data: long keys
    are cut and a deep path keeps its first and last steps only."""

    def step(key: Any) -> str:
        if isinstance(key, int) and not isinstance(key, bool):
            return f"[{key}]"
        text = key if isinstance(key, str) else repr(key)
        return "." + (text if len(text) <= _KEY_QUOTE else text[:_KEY_QUOTE] + "...")

    if len(steps) > _PATH_STEPS:
        half = _PATH_STEPS // 2
        hidden = len(steps) - 2 * half
        return (
            "$"
            + "".join(map(step, steps[:half]))
            + f"...({hidden} levels)..."
            + "".join(map(step, steps[-half:]))
        )
    return "$" + "".join(map(step, steps))


def _refuse(value: Any) -> None:
    """Raise ``InvalidInput`` for the first thing in ``value`` that is not
    strict JSON, naming where it is; return if there is none. Only run when
    the fast checks doubt the data, so it may be slow, but it keeps one list
    of keys for the path, never a string per level."""
    steps: list[Any] = []

    def fail(message: str) -> NoReturn:
        raise InvalidInput(f"{message} at {_where(steps)}")

    def walk(item: Any) -> None:
        if len(steps) > MAX_DEPTH:
            fail("data nested too deeply")
        if isinstance(item, str):
            if "\x00" in item:
                fail("NUL character in string")
        elif item is None or isinstance(item, bool | int):
            return
        elif isinstance(item, float):
            if not math.isfinite(item):
                fail("non-finite number")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    fail(f"non-string key of type {type(key).__name__}")
                if "\x00" in key:
                    fail("NUL character in key")
                steps.append(key)
                walk(child)
                steps.pop()
        elif isinstance(item, list):
            for index, child in enumerate(item):
                steps.append(index)
                walk(child)
                steps.pop()
        else:
            hint = _HINTS.get(type(item).__name__, "")
            fail(f"{type(item).__name__} is not JSON{hint}")

    walk(value)


#: What to do instead, for the commonest non-JSON values.
_HINTS = {
    "tuple": " (use a list)",
    "set": " (use a sorted list)",
    "frozenset": " (use a sorted list)",
    "bytes": " (decode it, or base64-encode it into a string)",
    "datetime": " (use its isoformat() string)",
    "date": " (use its isoformat() string)",
    "Decimal": " (use a string or a float)",
}


def canonical_json(value: Any, *, max_bytes: int | None = None, what: str = "entry data") -> str:
    """Validate ``value`` and return its canonical JSON text.

    Costs about one ``json.dumps``: item types are checked in C per container,
    and the path of a refusal is only worked out when there is one.

    Raises:
        InvalidInput: the value is not strict JSON (see module docstring).
        LimitExceeded: the encoding is larger than ``max_bytes``.
    """
    if not _plain(value):
        # Exact built-in types only were checked: a subclass of str or int is
        # still JSON, and _refuse, which uses isinstance, lets it through.
        _refuse(value)
    try:
        text = _encoder.encode(value)
    except (ValueError, TypeError, RecursionError):  # NaN, or what _refuse let by
        _refuse(value)
        raise InvalidInput("data is not JSON") from None
    # The encoder escapes NUL as \u0000; the same six characters may be text.
    if "\\u0000" in text:
        _refuse(value)
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate: not representable in UTF-8, so no store could hold it.
            raise InvalidInput("string with a lone surrogate is not valid UTF-8") from None
    if max_bytes is not None and size > max_bytes:
        raise LimitExceeded(f"{what} is {size} bytes; the limit is {max_bytes}")
    return text


def load_json_object(text: str | bytes) -> dict[str, Any]:
    """Parse stored JSON that must be an object (stores use this on read)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidInput("stored JSON is not an object")
    return value


# The scanner json.loads ends up in (typeshed does not declare it): stored
# text is canonical JSON with nothing around it, so readers call it directly
# (json.loads adds a few microseconds of checks a call).
scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def load_object_page(
    texts: Sequence[str | None], scan: Callable[[str, int], tuple[Any, int]] = scan_json
) -> list[dict[str, Any]] | None:
    """Decode a page of stored JSON objects with one pass of ``scan`` (a
    :class:`json.JSONDecoder`'s ``scan_once``) over the texts joined into an
    array: a read of 100 entries decodes faster that way than text by text.

    ``None`` when the page does not decode that way -- a NULL text, a text
    that is not exactly one object -- so the caller goes text by text, which
    says which one is wrong.
    """
    if not texts or None in texts:
        return None
    joined = "[" + ",".join(texts) + "]"  # type: ignore[arg-type]
    try:
        values, end = scan(joined, 0)
    except (StopIteration, ValueError):
        return None
    if end != len(joined) or len(values) != len(texts):
        return None
    if any(type(v) is not dict for v in values):
        return None
    return values  # type: ignore[no-any-return]


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
    """Digest of an entry's data, as ``restore`` re-derives it for verification:
    from the stored text itself when the store handed it over (:class:`StoredJSON`:
    no decode, no re-encode), else by encoding the decoded data again."""
    if isinstance(data, StoredJSON):  # a subclass: sealed records (agentsession._sealing)
        return entry_digest(kind, data.text)
    return entry_digest(kind, _encoder.encode(data))


_CHAIN_START = hashlib.sha256(b"").digest()


def chain_checksum(digests: Iterable[str], base: str | None = None) -> str:
    """The chained checksum of a path: starting from SHA-256 of nothing, each
    digest, root first, is hashed onto the previous value; the result as 43
    base64url characters (the flat form is 64 hex: the two never collide).
    ``base``: the chained checksum of the path above ``digests``, to go on
    from (a checkpoint then hashes only what was added since an earlier one)."""
    value = _CHAIN_START if base is None else _unb64(base)
    for digest in digests:
        value = hashlib.sha256(value + digest.encode("ascii")).digest()
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def chain_steps(digests: Iterable[str], base: str | None) -> list[str]:
    """The chained checksum after each of ``digests``, going on from ``base``
    (``None``: from nothing, for a root): what a store keeps with each entry
    it appends, so a checkpoint reads its head's instead of the path."""
    value = _CHAIN_START if base is None else _unb64(base)
    out = []
    for digest in digests:
        value = hashlib.sha256(value + digest.encode("ascii")).digest()
        out.append(base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii"))
    return out


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=")


def is_chained(value: str) -> bool:
    """Whether a checkpoint's checksum is the chained form (else the flat one)."""
    return len(value) == 43


def chained_form(value: str) -> bool:
    """Whether ``value`` is a well-formed chained checksum (43 base64url
    characters of a 32-byte value): a stored one may be damaged."""
    if not is_chained(value):
        return False
    try:
        raw = _unb64(value)
    except ValueError:  # binascii.Error: not base64
        return False
    return len(raw) == 32 and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == value


def checksum_matches(digests: Sequence[str], expected: str) -> bool:
    """Whether ``expected``, in whichever form it is, is the path's checksum."""
    made = chain_checksum(digests) if is_chained(expected) else checksum(digests)
    return hmac.compare_digest(made, expected)


class StoredJSON(Mapping[str, Any]):
    """An entry's data as a store holds it: the canonical JSON text, decoded on
    first use. Stores hand it over where the data is read to be verified
    (a checkpoint's path): a digest of the text itself proves the stored bytes,
    and nothing is decoded unless someone reads the data."""

    __slots__ = ("_value", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    @property
    def value(self) -> dict[str, Any]:
        """The decoded object (``InvalidInput`` if the text is not one)."""
        if self._value is None:
            self._value = load_json_object(self.text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self.value[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


def checksum(digests: Iterable[str]) -> str:
    """SHA-256 (hex) over the digests of a path, root first: the flat form,
    which checkpoints made before the chained one carry."""
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()
