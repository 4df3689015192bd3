"""``AsyncRedisStore``: sessions in Redis or Redis Cluster, on redis-py.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Every key of a session carries the hash tag ``{<session id>}``
(:mod:`agentsession.stores.redis._records`), so each call on a session is one
Lua script on one slot (:mod:`agentsession.stores.redis._scripts`): writers on
any number of hosts get one chain, with no WATCH retry loop. Listing indexes
live under ``{:idx}``: updated in the same script on a single server, in the
same pipeline (eventually consistent for listing only) on Cluster. Opening,
layout, expiry, listing costs, the Cluster hot spot and failure behaviour:
``docs/stores/redis.md``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentsession._async.scan import AsyncScanSearch
from agentsession._canonical import canonical_json
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    Unchecked,
    carrying,
    json_copy,
)
from agentsession._rules import place_entries, with_checksums
from agentsession._search import SCAN_SESSIONS
from agentsession.stores.redis._async.link import AsyncRedisLink, parse_url
from agentsession.stores.redis._records import (
    DEFAULT_PREFIX,
    Keys,
    decode_checkpoint,
    decode_entry,
    decode_page,
    encode_checkpoint,
    encode_entry,
    leaves_of,
    matches_filter,
    opt_us,
    owner_of,
    pairs,
    raise_for,
    row_fields,
    split0,
    to_us,
    user_hash,
)

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

    from agentsession.stores.redis._async.link import Client

__all__ = ["AsyncRedisStore"]


def _nonce() -> str:
    return secrets.token_hex(8)


Entries = list[Entry]


class AsyncRedisStore(AsyncScanSearch):
    """Sessions in Redis or Redis Cluster (see the module docstring).

    Args:
        client: a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``
            (left open by :meth:`close`).
        connection_pool: a ``redis.asyncio.ConnectionPool`` to make the client from.
        key_prefix: the start of every key name (no ``{`` or ``}``).
    """

    #: Search reads the newest sessions the filters allow, up to this many
    #: (``docs/design.md``, "Search").
    scan_sessions = SCAN_SESSIONS

    def __init__(
        self,
        client: Client | None = None,
        *,
        connection_pool: ConnectionPool | None = None,
        key_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._db = AsyncRedisLink(Keys(key_prefix), client, connection_pool, None)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AsyncRedisStore:
        """``redis[s]://``, ``unix://`` or ``redis[s]+cluster://``; ``key_prefix``
        may be given as a query parameter; other parameters and ``options`` go
        to redis-py's ``from_url``."""
        prefix, factory = parse_url(url, options)
        store = cls(key_prefix=prefix)
        store._db = AsyncRedisLink(Keys(prefix), None, None, factory)
        return store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key_prefix={self._db.keys.prefix!r}>"

    # -- sessions --------------------------------------------------------------

    async def create_session(self, info: SessionInfo) -> None:
        nonce = _nonce()
        await self._db.insert(info, "create", info.created_at, nonce, row_fields(info, nonce))

    async def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        info, nonce = export.session, _nonce()
        chained = with_checksums(export.entries)  # never the ones it brings
        head = next((e for e in chained if e.id == info.head), None)
        row = row_fields(
            info,
            nonce,
            head_depth=head.depth if head else 0,
            checkpoints=len(export.checkpoints),
            head_checksum=head.checksum if head else None,
        )
        entries = [x for e in chained for x in (e.id, encode_entry(e))]
        leaves = leaves_of(chained)
        points = [
            x
            for seq, c in enumerate(export.checkpoints, start=1)
            for x in (c.id, f"{seq}\t{c.entry_id or ''}\t{encode_checkpoint(c)}")
        ]
        counts = [str(len(x)) for x in (row, entries, leaves, points)]
        replace = "" if expected_revision is None else str(expected_revision)
        extra = [*counts, info.head or "", *row, *entries, *leaves, *points, replace]
        await self._db.insert(info, "import", info.updated_at, nonce, extra)

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        return await self._db.get_session(session_id, now)

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        db = self._db
        db.client()
        key, keys = db.keys.listing(agent, user_id), db.keys

        def keep(info: SessionInfo) -> bool:
            return matches_filter(info, agent, user_id)

        if db.cluster:
            found = await db.list_across_slots(key, offset, limit, keep, now)
        else:
            uhash = "" if user_id is UNCHECKED else user_hash(user_id)
            args = ["", to_us(now), "", "", "", keys.prefix, keys.idx]
            args += [str(offset), str(limit), agent or "", uhash]
            ids, rows, _ = await db.run("list", [key, keys.all, keys.exp, keys.owner], args)
            found = [db.decode(sid, row) for sid, row in zip(ids, rows, strict=True)]
        found = [info for info in found if keep(info)]  # the script compared user hashes
        found.sort(key=lambda i: (i.updated_at, i.id), reverse=True)
        return found

    async def delete_session(
        self, session_id: str, *, expected_revision: int | None = None
    ) -> bool:
        db = self._db
        db.client()
        owner = db.owners.pop(session_id, "")
        keys, index = db.keys.session(session_id), db.keys.index(owner)
        revision = "" if expected_revision is None else str(expected_revision)
        args = [session_id, "0", "", owner, "", revision]
        if db.cluster and not revision:
            reply, (known, dropped) = await db.pipeline(
                [("delete", keys, args), ("idx_drop", index, args)]
            )
        else:
            # On Cluster, unlisted only once erased (the delete may be refused).
            reply = await db.run("delete", keys if db.cluster else keys + index, args)
            if reply[0] != "ok":
                raise_for(reply)
            if db.cluster:
                known, dropped = await db.run("idx_drop", index, args)
            else:
                dropped, known = reply[1], reply[4]
        if known and dropped != 1:
            await db.drop_owned([(session_id, known)])
        return bool(reply[3])

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        revision = "" if expected_revision is None else str(expected_revision)
        fields = [x for k, v in metadata.items() for x in ("~" + k, canonical_json(v))]
        return await self._db.write_row("update", session_id, now, expires_at, [revision, *fields])

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        db = self._db
        if session_id not in db.owners:
            await self.get_session(session_id, now=now)
        owner = db.owners[session_id]
        new_owner = owner if user_id is UNCHECKED else owner_of(owner.split("\t")[0], user_id)
        args = [session_id, to_us(now), opt_us(expires_at), owner, _nonce(), new_id]
        if db.cluster:
            info, replaced = await db.rotate_across_slots(args, user_id, new_owner)
        else:
            keys = db.keys.session(session_id) + db.keys.session(new_id) + db.keys.index(None)
            keys += db.keys.owned(owner) + db.keys.owned(new_owner)
            user = user_id if isinstance(user_id, str) else ""
            moved = "0" if user_id is UNCHECKED else "1"
            reply = await db.run(
                "rotate", keys, [*args, moved, user, new_owner.split("\t")[1], new_owner]
            )
            if reply[0] != "ok":
                raise_for(reply)
            info, replaced = db.decode(new_id, reply[2]), reply[3]
            if reply[1] != 1:
                await db.drop_owned([(session_id, reply[4])])
        db.owners.pop(session_id, None)
        if replaced and replaced != new_owner:
            await db.drop_owned([(new_id, replaced)])
        return info

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        return await self._db.prune(now, batch)

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        reply = await self._db.read("export", session_id, now, [])
        entries = sorted(
            (decode_entry(k, v) for k, v in pairs(reply[3]).items()),
            key=lambda e: (e.depth, e.created_at, e.id),
        )
        info = self._db.decode(session_id, reply[2])
        return SessionExport(info, tuple(entries), tuple(self._checkpoints(session_id, reply[4])))

    async def close(self) -> None:
        await self._db.close()

    # -- history ---------------------------------------------------------------

    async def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
        new_root: bool = False,
    ) -> tuple[SessionInfo, list[Entry]]:
        if not entries:
            return await self.get_session(session_id, now=now), []
        if not new_root:
            return await self._db.append(session_id, entries, now, expires_at, expected_head)
        # Not the append's hot script: a compaction's path, once in a while.
        placed = place_entries(
            entries, parent_id=None, parent_depth=0, message_count=0, max_messages=None
        )
        expected = "*" if expected_head is UNCHECKED else expected_head or ""
        values = [x for e in placed for x in (e.id, encode_entry(e))]
        info = await self._db.write_row("graft", session_id, now, expires_at, [expected, *values])
        return info, [carrying(e, json_copy(dict(e.data))) for e in placed]

    async def read_path(
        self,
        session_id: str,
        *,
        now: datetime,
        before: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
        with_data: bool = True,
    ) -> tuple[SessionInfo, list[Entry]]:
        count = "-1" if limit is None else str(limit)
        extra = [before or "", count, kind or "", "1" if with_data else "0"]
        reply = await self._db.read("read_path", session_id, now, extra)
        return self._db.decode(session_id, reply[2]), decode_page(reply[3], with_data)

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        reply = await self._db.read("get_entry", session_id, now, [entry_id])
        entry_id, value = split0(reply[3])
        return decode_entry(entry_id, value)

    async def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        revision = "" if expected_revision is None else str(expected_revision)
        extra = [entry_id or "", revision]
        return await self._db.write_row("set_head", session_id, now, expires_at, extra)

    async def list_leaves(self, session_id: str, *, now: datetime) -> tuple[SessionInfo, Entries]:
        reply = await self._db.read("list_leaves", session_id, now, [])
        flat = split0(reply[3])
        leaves = [decode_entry(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return self._db.decode(session_id, reply[2]), leaves

    # -- checkpoints -----------------------------------------------------------

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        extra = [checkpoint.id, checkpoint.entry_id or "", encode_checkpoint(checkpoint)]
        sid = checkpoint.session_id
        return await self._db.write_row("save_checkpoint", sid, now, expires_at, extra)

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        extra = [checkpoint_id, "1" if with_path else "0"]
        reply = await self._db.read("get_checkpoint", session_id, now, extra)
        _, point = decode_checkpoint(session_id, checkpoint_id, reply[3])
        return point, decode_page(reply[4], lazy=True)  # read to be verified

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        reply = await self._db.read("list_checkpoints", session_id, now, [])
        return self._checkpoints(session_id, reply[3])

    @staticmethod
    def _checkpoints(session_id: str, joined: str) -> list[Checkpoint]:
        found = [decode_checkpoint(session_id, k, v) for k, v in pairs(joined).items()]
        found.sort(key=lambda item: item[0])
        return [point for _, point in found]
