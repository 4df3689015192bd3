"""Key names and record encodings of the Redis store (I/O-free, shared by both twins).

Per session (hash tag ``{<session id>}``, so one slot)::

    <prefix>{<id>}:s   hash  the row: fixed fields, and metadata as "~<key>" -> JSON
    <prefix>{<id>}:e   hash  entry id ->
                             "parent\\tkind\\tdepth\\tindex\\tcreated\\tdigest\\tchecksum\\tdata"
    <prefix>{<id>}:l   set   ids of the leaves (entries without children)
    <prefix>{<id>}:k   hash  checkpoint id -> "seq\\tentry\\t{json record}"
    <prefix>{<id>}:p   list  ids of the current path, root first (rebuilt if ever off)

Listing indexes (hash tag ``{:idx}``, one slot apart from every session)::

    <prefix>{:idx}:all            zset  id by updated_at (µs)
    <prefix>{:idx}:agent:<agent>  zset  the same, per agent
    <prefix>{:idx}:user:<hash>    zset  per owner; <hash> = SHA-256 of the user id, "-" = anonymous
    <prefix>{:idx}:au:<agent>:<hash>
    <prefix>{:idx}:exp            zset  id by expires_at (sessions that expire)
    <prefix>{:idx}:owner          hash  id -> "agent\\thash" (which indexes hold it)

JSON text never holds a raw tab (it is escaped), so tab-separated fields are
unambiguous and the data, last, may be split off with ``maxsplit``.
The checksum (``Entry.checksum``) is missing in values an earlier release
wrote (six tabs, not seven); the row keeps its head's (:func:`head_sum`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, NoReturn, TypeVar

from agentsession._canonical import StoredJSON, canonical_json, load_json_object, load_object_page
from agentsession._exceptions import (
    CheckpointNotFound,
    ConflictError,
    InvalidInput,
    LimitExceeded,
    SessionNotFound,
    StoreUnavailable,
)
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionInfo,
    Unchecked,
    json_copy,
)

__all__ = [
    "DEFAULT_PREFIX",
    "Keys",
    "Recent",
    "Seen",
    "advanced",
    "append_head",
    "decode_checkpoint",
    "decode_entry",
    "decode_page",
    "decode_row",
    "encode_checkpoint",
    "encode_entry",
    "entry_args",
    "from_us",
    "frozen",
    "head_sum",
    "leaves_of",
    "matches_filter",
    "opt_us",
    "owner_of",
    "pairs",
    "raise_for",
    "row_fields",
    "split0",
    "texts",
    "thawed",
    "to_us",
    "user_hash",
]

DEFAULT_PREFIX = "agentsession:"
_NO_OWNER = "\t"  # the owner's two fields, both empty
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
V = TypeVar("V")


class Recent(OrderedDict[str, V]):
    """A dict of at most ``size`` entries that forgets the least recently
    :meth:`put` one, one at a time (never all at once: a store object keeps
    what it uses, however many other sessions pass through it)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class Seen(NamedTuple):
    """A session row as a store object last saw it: the row text it decoded
    ('' when it derived the row from its own append or read it as a hash),
    the row's fields, the head's depth, created_at as µs text and the head's
    path checksum (``None``: not known, or no head)."""

    joined: str
    values: tuple[Any, ...]
    depth: int
    created: str
    checksum: str | None


# A row's fields are kept as SessionInfo's fields in order, in a tuple no
# caller can change: an append derives the next row from it and hands out a
# SessionInfo of its own, without two copies (``evolve`` then ``copy_info``).
_FIELDS = tuple(f.name for f in fields(SessionInfo))
HEAD, COUNT, REVISION, UPDATED, EXPIRES, MAX_MESSAGES, _METADATA = (
    _FIELDS.index(name)
    for name in (
        "head",
        "message_count",
        "revision",
        "updated_at",
        "expires_at",
        "max_messages",
        "metadata",
    )
)


def frozen(info: SessionInfo) -> tuple[Any, ...]:
    """The fields of ``info`` in order (the tuple shares its metadata: give it
    ``info`` only if ``info`` is handed to no one)."""
    return tuple([getattr(info, name) for name in _FIELDS])


def thawed(values: tuple[Any, ...]) -> SessionInfo:
    """A SessionInfo of ``values`` sharing nothing mutable with them."""
    info = SessionInfo(*values)
    info.metadata = json_copy(dict(values[_METADATA]))
    return info


def advanced(
    values: tuple[Any, ...], tip: Entry, now: datetime, expires_at: datetime | None
) -> tuple[Any, ...]:
    """The row's fields after an append whose last entry is ``tip``."""
    row = list(values)
    row[HEAD] = tip.id
    row[COUNT] = tip.message_index
    row[REVISION] += 1
    row[UPDATED] = now
    row[EXPIRES] = expires_at
    return tuple(row)


def to_us(moment: datetime) -> str:
    """Microseconds since the epoch, as exact integer text."""
    return str((moment - _EPOCH) // _US)


def opt_us(moment: datetime | None) -> str:
    return "" if moment is None else to_us(moment)


def from_us(text: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(text))


def _opt_time(text: str | None) -> datetime | None:
    return from_us(text) if text else None


def user_hash(user_id: str | None) -> str:
    """What stands for a user in key names: never the raw id."""
    if user_id is None:
        return "-"
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


def owner_of(agent: str, user_id: str | None) -> str:
    return f"{agent}\t{user_hash(user_id)}"


class Keys:
    """Key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
            raise InvalidInput("key_prefix must be a string without '{' or '}'")
        self.prefix = prefix
        self.idx = f"{prefix}{{:idx}}:"
        self.all = self.idx + "all"
        self.exp = self.idx + "exp"
        self.owner = self.idx + "owner"

    def session(self, session_id: str) -> list[str]:
        tag = f"{self.prefix}{{{session_id}}}:"
        return [tag + "s", tag + "e", tag + "l", tag + "k", tag + "p"]

    def append(self, session_id: str, owner: str, expiring: bool, indexes: bool) -> list[str]:
        """The keys of the append script (see ``APPEND_SCRIPT``): row, entries,
        leaves, path, the checkpoints when the session expires; then, with
        ``indexes``, all, exp when it expires, and the owner's three."""
        row, entries, leaves, points, path = self.session(session_id)
        keys = [row, entries, leaves, path]
        if expiring:
            keys.append(points)
        if indexes:
            keys += [self.all, self.exp] if expiring else [self.all]
            if owner:
                keys += self.owned(owner)
        return keys

    def owned(self, owner: str) -> list[str]:
        """The agent, user and agent+user indexes of one owner."""
        agent, uhash = owner.split("\t")
        idx = self.idx
        return [f"{idx}agent:{agent}", f"{idx}user:{uhash}", f"{idx}au:{agent}:{uhash}"]

    def index(self, owner: str | None) -> list[str]:
        """all, exp, owner map and, when the owner is known, its three indexes."""
        base = [self.all, self.exp, self.owner]
        return base if not owner else base + self.owned(owner)

    def listing(self, agent: str | None, user_id: str | Unchecked | None) -> str:
        if user_id is UNCHECKED:
            return self.all if agent is None else f"{self.idx}agent:{agent}"
        uhash = user_hash(user_id)
        return f"{self.idx}user:{uhash}" if agent is None else f"{self.idx}au:{agent}:{uhash}"


def matches_filter(info: SessionInfo, agent: str | None, user_id: str | Unchecked | None) -> bool:
    return (agent is None or info.agent == agent) and (
        user_id is UNCHECKED or info.user_id == user_id
    )


def row_fields(
    info: SessionInfo,
    nonce: str,
    *,
    head_depth: int = 0,
    checkpoints: int = 0,
    head_checksum: str | None = None,
) -> list[str]:
    """The session hash of ``info`` as field/value pairs."""
    fields = [
        "agent", info.agent,
        "uh", user_hash(info.user_id),
        "crt", to_us(info.created_at),
        "upd", to_us(info.updated_at),
        "head", info.head or "",
        "hd", str(head_depth),
        "hc", head_checksum or "",
        "hh", info.head or "",
        "cnt", str(info.message_count),
        "rev", str(info.revision),
        "exp", opt_us(info.expires_at),
        "dl", opt_us(info.deadline),
        "idle", "" if info.idle_timeout is None else repr(float(info.idle_timeout)),
        "maxm", "" if info.max_messages is None else str(info.max_messages),
        "lcp", opt_us(info.last_checkpoint_at),
        "cps", str(checkpoints),
        "wn", nonce,
    ]  # fmt: skip
    if info.user_id is not None:
        fields += ["user", info.user_id]
    for key, value in info.metadata.items():
        fields += ["~" + key, canonical_json(value)]
    return fields


def decode_row(session_id: str, row: Mapping[str, str]) -> tuple[SessionInfo, str, bool]:
    """The row as a :class:`SessionInfo`, its owner and whether it is being moved."""
    metadata = {k[1:]: json.loads(v) for k, v in row.items() if k[0] == "~"}
    idle, maxm = row.get("idle"), row.get("maxm")
    info = SessionInfo(
        id=session_id,
        agent=row["agent"],
        user_id=row.get("user"),
        created_at=from_us(row["crt"]),
        updated_at=from_us(row["upd"]),
        metadata=metadata,
        head=row.get("head") or None,
        message_count=int(row["cnt"]),
        revision=int(row["rev"]),
        expires_at=_opt_time(row.get("exp")),
        deadline=_opt_time(row.get("dl")),
        idle_timeout=float(idle) if idle else None,
        max_messages=int(maxm) if maxm else None,
        last_checkpoint_at=_opt_time(row.get("lcp")),
    )
    return info, f"{info.agent}\t{row['uh']}", "mv" in row


def head_sum(row: Mapping[str, str]) -> str | None:
    """The path checksum of the row's head, when the row knows it: ``hc`` is
    the checksum of the entry ``hh`` names (two fields, each short enough for
    Redis to keep the row a compact listpack), unknown if that is not the
    head (another release moved it) or ``hc`` is empty."""
    checksum = row.get("hc")
    return checksum if checksum and row.get("hh") == row.get("head") else None


def split0(text: str) -> list[str]:
    """The parts of a NUL-joined reply (rows and pages travel that way)."""
    return text.split("\0") if text else []


def pairs(text: str) -> dict[str, str]:
    """A NUL-joined field/value list (an HGETALL) as a dict."""
    it = iter(split0(text))
    return dict(zip(it, it, strict=True))


def append_head(
    session_id: str,
    now_s: str,
    exp: str,
    expected: str,
    owner: str,
    seen: Seen,
    tip: Entry,
    force: bool,
) -> str:
    """``APPEND_SCRIPT``'s first argument (see there) for entries placed on
    ``seen`` up to ``tip``; ``force``: to be placed by the script if the head
    moved."""
    values = seen.values
    head, limit, revision = values[HEAD], values[MAX_MESSAGES], values[REVISION]
    # The script stores a current copy's entries as sent: never offer one
    # without checksums, nor one that would refuse the append (the row may
    # differ): the script checks those against the row.
    known = (seen.checksum or "") if head is not None else ""
    if force:
        mine = "!\t"
    elif (
        (head is None or known)
        and expected in ("*", head or "")
        and (limit is None or tip.message_index <= limit)
    ):
        mine = f"{revision}\t{seen.created}"
    else:
        mine = "\t"
    return (
        f"{session_id}\t{now_s}\t{exp}\t{expected}\t{owner or _NO_OWNER}\t{mine}\t{head or ''}"
        f"\t{known}\t{revision + 1}\t{tip.depth}\t{tip.message_index}\t{tip.checksum}"
    )


def entry_args(placed: Sequence[Entry], entries: Sequence[NewEntry]) -> list[str]:
    """Two arguments per entry for ``APPEND_SCRIPT``: its id and its stored
    value, "parent\tkind\tdepth\tindex\tcreated (µs)\tdigest\tchecksum\tdata
    JSON", as ``placed`` (each with its checksum: the caller knew the parent's)."""
    args: list[str] = []
    last: tuple[datetime, str] | None = None
    for entry, new in zip(placed, entries, strict=True):
        if last is None or last[0] != entry.created_at:
            last = (entry.created_at, to_us(entry.created_at))
        args += (
            entry.id,
            f"{entry.parent_id or ''}\t{entry.kind}\t{entry.depth}\t{entry.message_index}"
            f"\t{last[1]}\t{entry.digest}\t{entry.checksum}\t{new.data_json}",
        )
    return args


def encode_entry(entry: Entry) -> str:
    """The stored value of ``entry`` (without the checksum field if it has none)."""
    fields = [
        entry.parent_id or "",
        entry.kind,
        str(entry.depth),
        str(entry.message_index),
        to_us(entry.created_at),
        entry.digest,
    ]
    if entry.checksum is not None:
        fields.append(entry.checksum)
    fields.append(canonical_json(dict(entry.data)))
    return "\t".join(fields)


def decode_entry(entry_id: str, value: str) -> Entry:
    """One stored entry, whole (with its data)."""
    [entry] = decode_page(f"{entry_id}\0{value}")
    return entry


def decode_page(joined: str, with_data: bool = True, lazy: bool = False) -> list[Entry]:
    """A page (id, value pairs, newest first) as entries, oldest first. The
    data of the whole page is parsed in one pass; ``lazy``: each
    entry's data stays its stored text, decoded on first use (a path read to
    be verified)."""
    parts = split0(joined)
    ids = parts[-2::-2]
    rows = [v.split("\t", 7) for v in parts[-1::-2]]
    # With data a value has 7 fields, 8 with a checksum; without, 6 or 7.
    with_data = with_data or lazy
    plain = 7 if with_data else 6
    datas: list[Any]
    if lazy:
        datas = [StoredJSON(r[-1]) for r in rows]
    elif with_data and rows:
        page_datas = load_object_page([r[-1] for r in rows])
        if page_datas is None:
            raise InvalidInput("stored JSON is not an object")
        datas = page_datas
    else:
        datas = [{} for _ in rows]
    times: dict[str, datetime] = {}
    page = []
    for entry_id, r, data in zip(ids, rows, datas, strict=True):
        when = times.get(r[4])
        if when is None:
            when = times[r[4]] = from_us(r[4])
        checksum = (r[6] or None) if len(r) > plain else None
        # parent, kind, depth, index, created, digest: positional for speed.
        page.append(
            Entry(entry_id, r[0] or None, r[1], when, data, int(r[2]), int(r[3]), r[5], checksum)
        )
    return page


def encode_checkpoint(point: Checkpoint) -> str:
    """The JSON record of a checkpoint (the entry id travels beside it)."""
    return canonical_json(
        {
            "c": point.checksum,
            "m": dict(point.metadata),
            "n": point.name,
            "t": int(to_us(point.created_at)),
        }
    )


def decode_checkpoint(session_id: str, checkpoint_id: str, value: str) -> tuple[int, Checkpoint]:
    seq, entry_id, text = value.split("\t", 2)
    record = load_json_object(text)
    point = Checkpoint(
        id=checkpoint_id,
        session_id=session_id,
        entry_id=entry_id or None,
        created_at=from_us(str(record["t"])),
        name=record["n"],
        metadata=record["m"],
        checksum=record["c"],
    )
    return int(seq), point


def texts(value: Any) -> Any:
    """Replies of a client made without ``decode_responses``: bytes -> str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [texts(v) for v in value]
    if isinstance(value, dict):
        return {texts(k): texts(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(texts(v) for v in value)
    return value


_CONFLICTS = {
    "taken": "a session with this id already exists",
    "head": "the session's head moved (expected_head does not match)",
    "rev": "the session changed since it was read",
}


def raise_for(reply: Sequence[Any]) -> NoReturn:
    """Turn a script's refusal into the library's error."""
    status = reply[0]
    if status == "nf":
        raise SessionNotFound()
    if status in _CONFLICTS:
        raise ConflictError(_CONFLICTS[status])
    if status == "limit":
        raise LimitExceeded(f"the session is limited to {reply[1]} messages")
    if status == "inv":
        raise InvalidInput("unknown entry id for this session")
    if status == "cpnf":
        raise CheckpointNotFound("unknown checkpoint for this session")
    raise StoreUnavailable(f"unexpected reply from a Redis script: {status!r}")


def leaves_of(entries: Iterable[Entry]) -> list[str]:
    items = list(entries)
    parents = {e.parent_id for e in items}
    return [e.id for e in items if e.id not in parents]
