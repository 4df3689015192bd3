"""Sealing stored JSON: compression and AES-256-GCM, bound to its place (no I/O).

A sealed record is stored as the JSON object ``{"$sealed": TOKEN}``, where
``TOKEN`` is ``1.<key id>.<codec>.<payload>``: the format version, the id of
the key that encrypted it (``-`` for none), the compression (``-`` none,
``z`` zlib, ``s`` zstd) and base64url of the bytes: the UTF-8 canonical JSON,
compressed by the codec, then (with a key) ``nonce || AES-GCM(...)``. The
associated data of the encryption is the token's header and the record's
place -- what it is (an entry, a session's or a checkpoint's metadata), the
session id, the record's id and an entry's kind -- so a ciphertext moved to
another session, entry, kind or field does not open. Everything else a store
keeps (ids, times, counts, tree links, kinds, owners) stays in clear.

A record that is not a single ``$sealed`` key is plain JSON as any store
holds it. A plain object that happens to have that shape is sealed on the way
in even without a key (``1.-.-.``), so reading is never ambiguous.

See ``docs/design.md``, "Encryption and compression".
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Final, Literal

from ._canonical import (
    DEFAULT_MAX_ENTRY_BYTES,
    StoredJSON,
    canonical_json,
    chain_checksum,
    checksum,
    checksum_matches,
    entry_digest,
    is_chained,
    load_json_object,
)
from ._exceptions import DecryptionError, IntegrityError, InvalidInput, MissingKey
from ._models import (
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    carrying,
    copy_checkpoint,
    evolve,
)
from .extras import missing_extra

__all__ = [
    "MARK",
    "Codec",
    "Compression",
    "KeyRing",
    "Place",
    "RekeyReport",
    "SealedJSON",
    "Sealer",
    "entry_place",
]

#: The one key of a sealed record.
MARK: Final = "$sealed"
_VERSION = "1"
_NONCE = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64 = re.compile(r"[A-Za-z0-9_-]*")

#: Where a record lives: (what, session id, record id, entry kind).
Place = tuple[str, str, str, str]

Compression = Literal["zlib", "zstd", "auto"]


def entry_place(session_id: str, entry_id: str, kind: str) -> Place:
    return ("entry", session_id, entry_id, kind)


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise missing_extra("encryption (agentsession.sealed)", "crypto") from exc
    return AESGCM


def _zstd() -> ModuleType | None:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


class KeyRing:
    """AES-256 keys by id, newest first: the newest seals, any of them opens.

    Args:
        keys: ``(key_id, key)`` pairs, newest first. A key is 32 bytes, or
            their base64 (standard or url-safe). Key ids match
            ``[A-Za-z0-9_-]{1,64}`` and are stored beside every record, so
            name them for what they are ("2026-12"), never after the key.

    Keys come from the caller or the environment (:meth:`from_env`), never
    from the store. The repr names the ids only.
    """

    __slots__ = ("_ciphers", "ids")

    def __init__(self, keys: Iterable[tuple[str, bytes | str]]) -> None:
        aesgcm = _aesgcm()
        self._ciphers: dict[str, Any] = {}
        for key_id, key in keys:
            if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
                raise InvalidInput("invalid key id: must match [A-Za-z0-9_-]{1,64}")
            if key_id in self._ciphers:
                raise InvalidInput(f"key id {key_id} appears twice in the key ring")
            self._ciphers[key_id] = aesgcm(_key_bytes(key_id, key))
        if not self._ciphers:
            raise InvalidInput("a key ring needs at least one key")
        #: The key ids, newest (the one that seals) first.
        self.ids: tuple[str, ...] = tuple(self._ciphers)

    @classmethod
    def from_env(cls, variable: str = "AGENTSESSION_KEYS") -> KeyRing:
        """The ring in environment variable ``variable``: ``id:key`` pairs,
        newest first, separated by commas (``2026-12:<base64>,2026-06:<base64>``)."""
        text = os.environ.get(variable, "").strip()
        if not text:
            raise InvalidInput(f"environment variable {variable} holds no keys")
        pairs = []
        for item in text.split(","):
            key_id, sep, key = item.strip().partition(":")
            if not sep:
                raise InvalidInput(f"{variable}: each item must be id:base64-key")
            pairs.append((key_id, key))
        return cls(pairs)

    @staticmethod
    def generate() -> str:
        """A new random key, base64url (put it in the environment, never in the store)."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")

    @property
    def primary(self) -> str:
        """The id of the key that seals new records."""
        return self.ids[0]

    def cipher(self, key_id: str) -> Any:
        """The AES-GCM cipher of ``key_id`` (``MissingKey`` if not in the ring)."""
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise MissingKey(
                f"the record was sealed with key {key_id}, which is not in the key ring",
                key_id=key_id,
            ) from None

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self.ids)!r})"


def _key_bytes(key_id: str, key: bytes | str) -> bytes:
    raw: bytes | None = key if isinstance(key, bytes) else None
    if isinstance(key, str):
        text = key.strip()
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                raw = decode(text + "=" * (-len(text) % 4))
                break
            except (binascii.Error, ValueError):
                continue
    if raw is None or len(raw) != 32:
        raise InvalidInput(f"key {key_id} must be 32 bytes (AES-256), or their base64")
    return raw


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if _B64.fullmatch(text) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Codec:
    """Seals and opens records, as the store wrapper's options say.

    Args:
        keys: encrypt with ``keys.primary``; ``None``: no encryption.
        compression: ``"zlib"``, ``"zstd"`` (needs ``zstandard``), ``"auto"``
            (zstd when installed, else zlib) or ``None``.
        threshold: records of fewer UTF-8 bytes are not compressed.
        read_plaintext: with keys, whether records stored in clear (written
            before encryption was turned on) are read; ``False`` refuses them.
        max_bytes: largest record a decompression may produce.
    """

    def __init__(
        self,
        keys: KeyRing | None = None,
        *,
        compression: Compression | None = None,
        threshold: int = 512,
        read_plaintext: bool = True,
        max_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    ) -> None:
        self.keys = keys
        self.read_plaintext = read_plaintext
        self.threshold = threshold
        self.max_bytes = max_bytes
        zstd = _zstd()
        if compression == "zstd" and zstd is None:
            raise missing_extra("zstd compression (agentsession.sealed)", "zstd")
        if compression == "auto":
            compression = "zstd" if zstd is not None else "zlib"
        if compression not in (None, "zlib", "zstd"):
            raise InvalidInput("compression must be 'zlib', 'zstd', 'auto' or None")
        self.compression = compression
        self._zstd = zstd

    @property
    def encrypts(self) -> bool:
        return self.keys is not None

    # -- sealing -----------------------------------------------------------------

    def seal_text(self, text: str, place: Place, *, force: bool = False) -> str | None:
        """The token for the canonical JSON ``text`` of a record at ``place``,
        or ``None`` when the record is stored as it is (never with keys;
        without, when it is not compressed, unless ``force`` and it holds
        ``MARK``)."""
        raw = text.encode("utf-8")
        codec, body = "-", raw
        if self.compression is not None and len(raw) >= self.threshold:
            packed = self._compress(raw)
            if len(packed) < len(raw):
                codec, body = ("s" if self.compression == "zstd" else "z"), packed
        if self.keys is None:
            if codec == "-" and not _looks_sealed(text) and not (force and _holds_mark(text)):
                return None
            return f"{_VERSION}.-.{codec}.{_b64(body)}"
        key_id = self.keys.primary
        header = f"{_VERSION}.{key_id}.{codec}"
        nonce = os.urandom(_NONCE)
        sealed = self.keys.cipher(key_id).encrypt(nonce, body, _aad(header, place))
        return f"{header}.{_b64(nonce + sealed)}"

    def seal_object(
        self, value: Mapping[str, Any], place: Place, *, force: bool = False
    ) -> dict[str, Any]:
        """A JSON object (metadata) as it is to be stored."""
        text = canonical_json(dict(value), what="metadata")
        token = self.seal_text(text, place, force=force)
        return dict(value) if token is None else {MARK: token}

    def _compress(self, raw: bytes) -> bytes:
        if self.compression == "zstd":
            assert self._zstd is not None
            packed: bytes = self._zstd.ZstdCompressor(level=3).compress(raw)
            return packed
        return zlib.compress(raw, 6)

    # -- opening -----------------------------------------------------------------

    def token_of(self, data: Mapping[str, Any]) -> str | None:
        """The token of a stored record, or ``None`` if it is plain."""
        if len(data) == 1:
            token = data.get(MARK)
            if isinstance(token, str):
                return token
        return None

    def open_object(self, data: Mapping[str, Any], place: Place) -> dict[str, Any]:
        """A stored record's JSON object, opened (``DecryptionError``, ``MissingKey``,
        ``IntegrityError``)."""
        token = self.token_of(data)
        if token is None:
            self._plain_allowed(place, None)
            return dict(data)
        return load_json_object(self.open_text(token, place))

    def open_text(self, token: str, place: Place) -> str:
        """The canonical JSON text a token seals."""
        parts = token.split(".", 3)
        if len(parts) != 4 or parts[0] != _VERSION or parts[2] not in ("-", "z", "s"):
            raise IntegrityError(f"{_name(place)} is not a well-formed sealed record")
        _, key_id, codec, payload = parts
        try:
            body = _unb64(payload)
        except (binascii.Error, ValueError):
            raise IntegrityError(f"{_name(place)} is not a well-formed sealed record") from None
        if key_id == "-":
            self._plain_allowed(place, codec)
        elif _KEY_ID.fullmatch(key_id) is None:
            raise IntegrityError(f"{_name(place)} is not a well-formed sealed record")
        else:
            body = self._decrypt(key_id, f"{_VERSION}.{key_id}.{codec}", body, place)
        if codec != "-":
            body = self._decompress(codec, body, place)
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError(f"{_name(place)} is not UTF-8 JSON") from None

    def _plain_allowed(self, place: Place, codec: str | None) -> None:
        if self.keys is not None and not self.read_plaintext:
            what = "stored in clear" if codec in (None, "-") else "compressed but not encrypted"
            raise DecryptionError(f"{_name(place)} is {what}, and this store requires encryption")

    def _decrypt(self, key_id: str, header: str, body: bytes, place: Place) -> bytes:
        if self.keys is None:
            raise MissingKey(
                f"{_name(place)} is encrypted with key {key_id}, and this store has no keys",
                key_id=key_id,
            )
        cipher = self.keys.cipher(key_id)
        try:
            opened: bytes = cipher.decrypt(body[:_NONCE], body[_NONCE:], _aad(header, place))
        except Exception:  # cryptography's InvalidTag; a short body is ValueError
            raise DecryptionError(
                f"{_name(place)} does not open with key {key_id}: a wrong key, or the"
                " record was altered or moved",
                key_id=key_id,
            ) from None
        return opened

    def _decompress(self, codec: str, body: bytes, place: Place) -> bytes:
        try:
            if codec == "z":
                inflater = zlib.decompressobj()
                out = inflater.decompress(body, self.max_bytes + 1)
                if not inflater.eof:
                    raise ValueError("truncated or too large")
            else:
                if self._zstd is None:
                    raise missing_extra("reading zstd-compressed records", "zstd")
                out = self._zstd.ZstdDecompressor().decompressobj().decompress(body)
            if len(out) > self.max_bytes:
                raise ValueError("too large")
        except ImportError:
            raise
        except Exception:
            raise IntegrityError(f"{_name(place)} does not decompress") from None
        return out


def _looks_sealed(text: str) -> bool:
    return text.startswith('{"' + MARK + '":"') and text.endswith('"}') and text.count('"') == 4


def _holds_mark(text: str) -> bool:
    return ('"' + MARK + '":') in text


def _aad(header: str, place: Place) -> bytes:
    # The place's parts are ids (no NUL) and a kind (no NUL either: refused
    # everywhere), so NUL-joined they cannot run into each other.
    return "\x00".join((header, *place)).encode("utf-8")


def _name(place: Place) -> str:
    what, _, record, kind = place
    if what == "entry":
        return f"entry {record} ({kind})"
    if what == "checkpoint":
        return f"checkpoint {record}"
    return "the session's metadata"


class SealedJSON(StoredJSON):
    """A sealed entry's data as a checkpoint's path hands it over: ``text`` is
    the stored JSON (what the digest covers), the value is opened on first use."""

    __slots__ = ("_open",)

    def __init__(self, text: str, opener: Callable[[], dict[str, Any]]) -> None:
        super().__init__(text)
        self._open = opener

    @property
    def value(self) -> dict[str, Any]:
        if self._value is None:
            self._value = self._open()
        return self._value


# -- records -------------------------------------------------------------------------
# What the store wrapper does to each record on the way in and out; I/O-free, so
# the async wrapper and its generated sync twin share it.


def _session_place(session_id: str) -> Place:
    return ("session", session_id, "", "")


def _text_of(data: Mapping[str, Any]) -> str:
    return data.text if isinstance(data, StoredJSON) else canonical_json(dict(data))


class Sealer:
    """The record transformations of a store wrapper over one :class:`Codec`."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    # sessions

    def seal_info(self, info: SessionInfo) -> SessionInfo:
        return evolve(info, metadata=self.seal_metadata(info.id, info.metadata))

    def seal_metadata(self, session_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        # Always sealed with a key, even when empty: every session then has a
        # record that proves the key before anything is written to it.
        return self.codec.seal_object(metadata, _session_place(session_id), force=True)

    def open_metadata(self, session_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        # A metadata object with a string under MARK is sealed, whatever else
        # it holds: keys stored in clear before encryption was turned on stay
        # beside it (a shallow merge cannot remove them) until a rekey.
        token = stored.get(MARK)
        place = _session_place(session_id)
        if not isinstance(token, str):
            return self.codec.open_object(stored, place)
        return load_json_object(self.codec.open_text(token, place))

    def open_info(self, info: SessionInfo) -> SessionInfo:
        return evolve(info, metadata=self.open_metadata(info.id, info.metadata))

    # entries

    def seal_entry(self, session_id: str, entry: NewEntry) -> NewEntry:
        token = self.codec.seal_text(entry.data_json, entry_place(session_id, entry.id, entry.kind))
        if token is None:
            return entry
        text = '{"' + MARK + '":"' + token + '"}'
        return NewEntry(
            entry.id,
            entry.kind,
            {MARK: token},
            text,
            entry_digest(entry.kind, text),
            entry.created_at,
        )

    def open_entry(self, session_id: str, entry: Entry) -> Entry:
        place = entry_place(session_id, entry.id, entry.kind)
        return carrying(entry, self.codec.open_object(entry.data, place))

    def open_lazily(self, session_id: str, entry: Entry) -> Entry:
        """The entry with its data opened on first use; its ``text`` stays the
        stored JSON, which the digest covers (how ``restore`` verifies)."""
        data = entry.data
        place = entry_place(session_id, entry.id, entry.kind)
        token = self.codec.token_of(data)
        if token is None:
            self.codec.open_object(data, place)  # refuses clear records where required
            return entry
        codec = self.codec

        def opened() -> dict[str, Any]:
            return load_json_object(codec.open_text(token, place))

        return carrying(entry, SealedJSON(_text_of(data), opened))

    # checkpoints: the name goes inside the sealed metadata

    def seal_checkpoint(self, point: Checkpoint) -> Checkpoint:
        place: Place = ("checkpoint", point.session_id, point.id, "")
        inner = {"metadata": dict(point.metadata), "name": point.name}
        token = self.codec.seal_text(canonical_json(inner, what="metadata"), place, force=True)
        if token is None:
            return point
        return copy_checkpoint(point, name=None, metadata={MARK: token})

    def open_checkpoint(self, point: Checkpoint) -> Checkpoint:
        place: Place = ("checkpoint", point.session_id, point.id, "")
        token = self.codec.token_of(point.metadata)
        if token is None:
            return copy_checkpoint(point, metadata=self.codec.open_object(point.metadata, place))
        inner = load_json_object(self.codec.open_text(token, place))
        name, metadata = inner.get("name"), inner.get("metadata")
        if not isinstance(metadata, dict) or not (name is None or isinstance(name, str)):
            raise IntegrityError(f"checkpoint {point.id} holds a malformed sealed record")
        return copy_checkpoint(point, name=name, metadata=metadata)

    # whole sessions

    def is_current(self, stored: SessionExport) -> bool:
        """Whether every record of a stored session is sealed under the
        newest key (so a rekey has nothing to do there)."""
        keys = self.codec.keys
        if keys is None:
            return True
        prefix = f"{_VERSION}.{keys.primary}."

        def under(data: Mapping[str, Any]) -> bool:
            token = data.get(MARK) if len(data) == 1 else None
            return isinstance(token, str) and token.startswith(prefix)

        return (
            under(stored.session.metadata)
            and all(under(e.data) for e in stored.entries)
            and all(under(c.metadata) for c in stored.checkpoints)
        )

    def open_export(self, stored: SessionExport) -> SessionExport:
        """The session as it would be stored in clear, after checking every
        stored digest and checksum: what ``export_session`` hands out, so an
        export moves between stores whatever their keys."""
        session_id = stored.session.id
        entries: list[Entry] = []
        digests: dict[str, str] = {}
        for entry in stored.entries:
            text = _text_of(entry.data)
            if entry_digest(entry.kind, text) != entry.digest:
                raise IntegrityError(f"entry {entry.id} does not match its digest")
            place = entry_place(session_id, entry.id, entry.kind)
            token = self.codec.token_of(entry.data)
            if token is None:
                self.codec.open_object(entry.data, place)
            else:
                text = self.codec.open_text(token, place)
            opened = carrying(entry, load_json_object(text))
            opened.digest = entry_digest(entry.kind, text)
            opened.checksum = None  # chained over the sealed digests: not these
            entries.append(opened)
            digests[entry.id] = opened.digest
        points = _rechecked(stored, {e.id: e.digest for e in stored.entries}, digests)
        return SessionExport(
            self.open_info(stored.session),
            tuple(entries),
            tuple(self.open_checkpoint(p) for p in points),
        )

    def seal_export(self, plain: SessionExport) -> SessionExport:
        """The reverse of :meth:`open_export`: each record sealed, the digests
        and checksums those of the sealed records."""
        session_id = plain.session.id
        entries: list[Entry] = []
        for entry in plain.entries:
            text = _text_of(entry.data)
            new = self.seal_entry(
                session_id,
                NewEntry(entry.id, entry.kind, entry.data, text, entry.digest, entry.created_at),
            )
            sealed = carrying(entry, new.data)
            sealed.digest = new.digest
            sealed.checksum = None  # the store chains the sealed digests itself
            entries.append(sealed)
        digests = {e.id: e.digest for e in entries}
        points = _rechecked(plain, {e.id: e.digest for e in plain.entries}, digests)
        return SessionExport(
            self.seal_info(plain.session),
            tuple(entries),
            tuple(self.seal_checkpoint(p) for p in points),
        )


@dataclass(slots=True)
class RekeyReport:
    """What a rekey did (:func:`agentsession.sealed.rekey`).

    Attributes:
        resealed: sessions written again under the newest key.
        current: sessions already wholly under it (read, not written).
        failed: id -> why it was left as it is (a record that does not
            open: nothing of that session was written).
        passes: listings walked (a session written during a pass, and so
            moved ahead of the listing, is taken by the next).
    """

    resealed: int = 0
    current: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    passes: int = 0

    @property
    def ok(self) -> bool:
        """Nothing failed."""
        return not self.failed


def _rechecked(
    export: SessionExport, old: Mapping[str, str], new: Mapping[str, str]
) -> list[Checkpoint]:
    """The export's checkpoints with their checksums moved from the ``old``
    digests to the ``new`` ones, in the same form; each old checksum is
    verified first (``IntegrityError``), so a damaged one is never laundered."""
    parents = {e.id: e.parent_id for e in export.entries}
    points = []
    for point in export.checkpoints:
        path: list[str] = []
        at = point.entry_id
        while at is not None:
            path.append(at)
            at = parents.get(at)
        path.reverse()
        if not checksum_matches([old[i] for i in path], point.checksum):
            raise IntegrityError(f"checkpoint {point.id} does not match its path")
        ids = [new[i] for i in path]
        made = chain_checksum(ids) if is_chained(point.checksum) else checksum(ids)
        points.append(copy_checkpoint(point, checksum=made))
    return points
