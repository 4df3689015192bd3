"""How LangGraph checkpoints and writes become agentsession entries (no I/O).

A thread is a session; its id is :func:`session_id_for` the thread id. Each
checkpoint is one ``"langgraph-checkpoint"`` entry whose id is derived from
its namespace and checkpoint id (:func:`checkpoint_entry_id`), so a checkpoint
is found with one ``get_entry``, and whose parent is the parent checkpoint's
entry. Each ``put_writes`` call is one ``"langgraph-writes"`` entry in a chain
hung under its checkpoint's entry, ids :func:`writes_entry_id` ``(entry, 1)``,
``(entry, 2)``, ...

Values go through LangGraph's serializer (``dumps_typed``) and its bytes are
written base64 into the entry's JSON: ``[type, base64]``. A channel's value is
stored once per version, in the entry of the checkpoint that wrote that
version; every other entry names where it is (``"holders"``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    PendingWrite,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agentsession import InvalidInput
from agentsession.store import Entry, canonical_json

CHECKPOINT = "langgraph-checkpoint"
WRITES = "langgraph-writes"

_VALID_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ENCODED, _HASHED = "lgb_", "lgh_"


def session_id_for(thread_id: str) -> str:
    """The session id of a thread, reversible except for very long ids.

    A thread id that is already a valid session id and does not start with
    ``lgb_``/``lgh_`` is used as is; any other is ``lgb_`` + its UTF-8
    base64url (no padding) when that fits in 128 characters, else ``lgh_`` +
    the base64url SHA-256 of it (the thread id is then kept in the session's
    metadata, ``langgraph.thread_id``).
    """
    if not isinstance(thread_id, str) or not thread_id:
        raise InvalidInput("a LangGraph thread_id must be a non-empty string")
    if _VALID_ID.fullmatch(thread_id) and not thread_id.startswith((_ENCODED, _HASHED)):
        return thread_id
    encoded = _ENCODED + _b64(thread_id.encode()).rstrip("=")
    if len(encoded) <= 128:
        return encoded
    return _HASHED + _b64(hashlib.sha256(thread_id.encode()).digest()).rstrip("=")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:48]


def checkpoint_entry_id(checkpoint_ns: str, checkpoint_id: str) -> str:
    """The entry id of a checkpoint (unique within its session)."""
    return "lgc-" + _digest(checkpoint_ns, checkpoint_id)


def writes_entry_id(checkpoint_entry: str, number: int) -> str:
    """The entry id of the ``number``-th writes entry (from 1) of a checkpoint."""
    return "lgw-" + _digest(checkpoint_entry, str(number))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def dump_value(serde: SerializerProtocol, value: Any) -> list[str]:
    """``[type, base64 of the bytes]`` of one value, through LangGraph's serde."""
    kind, data = serde.dumps_typed(value)
    return [kind, _b64(data)]


def load_value(serde: SerializerProtocol, stored: Sequence[str]) -> Any:
    return serde.loads_typed((stored[0], base64.urlsafe_b64decode(stored[1])))


def _plain(serde: SerializerProtocol, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` itself when it is canonical JSON (readable in the entry), else
    ``{"$serde": [type, base64]}``."""
    try:
        canonical_json(dict(value), what="LangGraph metadata")
    except (InvalidInput, TypeError, ValueError):
        return {"$serde": dump_value(serde, dict(value))}
    return dict(value)


def _unplain(serde: SerializerProtocol, value: Mapping[str, Any]) -> dict[str, Any]:
    if set(value) == {"$serde"}:
        return cast("dict[str, Any]", load_value(serde, value["$serde"]))
    return dict(value)


def checkpoint_data(
    serde: SerializerProtocol,
    *,
    checkpoint_ns: str,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    parent: Entry | None,
    parent_id: str | None,
) -> dict[str, Any]:
    """The data of a checkpoint's entry: the checkpoint without its values, the
    blobs of the channels ``new_versions`` names, and where each other
    channel's current version is stored (found through ``parent``)."""
    values = checkpoint["channel_values"]
    blobs: dict[str, Any] = {}
    for channel, version in new_versions.items():
        blob = dump_value(serde, values[channel]) if channel in values else None
        blobs[channel] = {"version": version, "value": blob}
    holders: dict[str, str] = {}
    if parent is not None:
        parent_versions = parent.data["checkpoint"].get("channel_versions", {})
        for channel, version in checkpoint["channel_versions"].items():
            if channel in blobs or parent_versions.get(channel) != version:
                continue
            holder = parent.data["holders"].get(channel)
            if holder is None and channel in parent.data["blobs"]:
                holder = parent.id
            if holder is not None:
                holders[channel] = holder
    skeleton = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    return {
        "checkpoint_ns": checkpoint_ns,
        "checkpoint_id": checkpoint["id"],
        "parent_checkpoint_id": parent_id,
        "checkpoint": _plain(serde, skeleton),
        "metadata": _plain(serde, metadata),
        "blobs": blobs,
        "holders": holders,
    }


def holders_to_read(entry: Entry) -> set[str]:
    """The other entries whose blobs ``entry``'s checkpoint needs."""
    return set(entry.data["holders"].values())


def read_checkpoint(
    serde: SerializerProtocol, entry: Entry, holders: Mapping[str, Entry]
) -> tuple[Checkpoint, dict[str, Any]]:
    """The checkpoint (with its channel values gathered from ``entry`` and the
    holder entries, by id) and its metadata."""
    skeleton = _unplain(serde, entry.data["checkpoint"])
    versions = skeleton.get("channel_versions", {})
    values: dict[str, Any] = {}
    for channel, version in versions.items():
        source = entry
        if channel not in entry.data["blobs"]:
            holder = entry.data["holders"].get(channel)
            if holder is None or holder not in holders:
                continue
            source = holders[holder]
        blob = source.data["blobs"].get(channel)
        if blob is not None and blob["version"] == version and blob["value"] is not None:
            values[channel] = load_value(serde, blob["value"])
    checkpoint = cast("Checkpoint", {**skeleton, "channel_values": values})
    return checkpoint, metadata_of(serde, entry)


def writes_data(
    serde: SerializerProtocol,
    *,
    checkpoint_entry: str,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    stored: Iterable[Entry],
) -> dict[str, Any] | None:
    """The data of a writes entry, or ``None`` when every write is stored
    already (the same task and index; special channels are written again)."""
    seen = {(w[0], w[1]) for e in stored for w in _rows(e)}
    rows = []
    for idx, (channel, value) in enumerate(writes):
        index = WRITES_IDX_MAP.get(channel, idx)
        if channel not in WRITES_IDX_MAP and (task_id, index) in seen:
            continue
        rows.append([task_id, index, channel, dump_value(serde, value)])
    if not rows:
        return None
    return {"checkpoint_entry": checkpoint_entry, "task_path": task_path, "writes": rows}


def _rows(entry: Entry) -> list[list[Any]]:
    return cast("list[list[Any]]", entry.data["writes"])


def pending_writes(serde: SerializerProtocol, stored: Iterable[Entry]) -> list[PendingWrite]:
    """The writes of a checkpoint's writes entries: one per task and index
    (the first, or the last for special channels), in LangGraph's order
    (task path, task id, index)."""
    found: dict[tuple[str, int], tuple[str, list[Any]]] = {}
    for entry in stored:
        for row in _rows(entry):
            key = (row[0], row[1])
            if key not in found or row[2] in WRITES_IDX_MAP:
                found[key] = (entry.data["task_path"], row)
    ordered = sorted(found.values(), key=lambda item: (item[0], item[1][0], item[1][1]))
    return [(row[0], row[2], load_value(serde, row[3])) for _, row in ordered]


def inline_values(entry: Entry, gone: Mapping[str, Entry]) -> dict[str, Any]:
    """``entry``'s data holding itself the blobs it found in the ``gone``
    entries (by id), for a checkpoint whose holders are being erased."""
    blobs = dict(entry.data["blobs"])
    holders = {}
    for channel, holder in entry.data["holders"].items():
        if holder not in gone:
            holders[channel] = holder
        elif channel in gone[holder].data["blobs"]:
            blobs[channel] = gone[holder].data["blobs"][channel]
    return {**entry.data, "blobs": blobs, "holders": holders}


def metadata_of(serde: SerializerProtocol, entry: Entry) -> dict[str, Any]:
    return _unplain(serde, entry.data["metadata"])
