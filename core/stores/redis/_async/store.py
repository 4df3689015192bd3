"""``AsyncRedisStore``: sessions in Redis or Redis Cluster, on redis-py.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Opening::

    open_async_store("redis://localhost:6379/0")      # rediss:// for TLS
    open_async_store("redis://host/0?key_prefix=app:")  # default prefix "agentsession:"
    open_async_store("redis+cluster://node1:7000")     # Redis Cluster; rediss+cluster:// for TLS
    open_async_store("unix:///run/redis/redis.sock?db=0")  # a unix socket
    AsyncRedisStore(client, key_prefix="app:")  # your Redis or RedisCluster client
    AsyncRedisStore(connection_pool=pool)

A cluster URL names one reachable node; the client discovers the others. Other
query parameters go to redis-py (``socket_timeout=``, ``ssl_cert_reqs=``, ...).
Nothing connects until the first operation; a store made from your client or
pool leaves them open on ``close()``.

Layout and atomicity: every key of a session carries the hash tag
``{<session id>}`` (see ``agentsession.stores.redis._records``), so each operation on
a session is one Lua script on one slot (``EVALSHA``; redis-py's ``Script``
objects load it when the server does not know it yet). ``append``, ``extend``,
``set_head`` (switch, pop, clear, restore), checkpoints and metadata updates
read the head, check ``expected_head`` / the revision, write, and advance head,
revision, counts, ``updated_at`` and the expiry of *every* key of the session in
that one script: concurrent writers on any number of hosts get one chain, and
no WATCH retry loop exists. Each write carries a nonce (for appends, the new
entry ids) so a command redis-py re-sends after a dropped connection is
recognised and not applied twice.

Reading: beside the tree (entries linked to their parents) each session keeps
the list of the ids on its current path, so ``messages(limit=N)`` is one
LRANGE and one HMGET inside one script -- N entries read, whatever the length
of the history; entries off the current path are found by their parent links.
The list is checked against the head on every read and rebuilt if it is off.
A store object remembers the owners and last rows of the 65,536 sessions it
used most recently (older ones are forgotten one at a time): a write it makes
without having seen the session first costs a second round trip (to update the
owner's listing indexes), and an append over a row it holds gets no row back.

Expiry: ``ttl``/``idle_timeout`` become native key expiries (``PEXPIRE`` of
``expires_at - now``), renewed on every write for all five keys. ``expires_at``
is also kept in the row and an expired row is treated as absent, so the
manager's clock decides, not Redis's.

Listing: sorted sets by ``updated_at`` -- all sessions, per agent, per user
(a SHA-256 of the user id, never the raw id), per agent and user -- plus one by
``expires_at`` and an owner map, all under the hash tag ``{:idx}``. On a single
server a write updates them inside its own script, atomically. On Cluster they
live in another slot and are updated by a second script in the same pipeline:
not atomic with the write, so for a moment a listing may miss a brand-new
session, order one by its previous ``updated_at``, or (if the write was
refused) by a newer one.

Listing on a single server is one round trip: one script reads the page of
ids from the index and their rows, skips what no longer belongs and reads on
down the index until the page is full. An id whose row is gone (Redis expired
it by itself, or evicted it) is removed from every index there and then; one
whose row is expired by the manager's clock or has another owner, from that
index. On Cluster the rows live in other slots than the index, so a script
cannot read them: a listing costs one round trip to the index's node for the
ids, then one pipeline of the rows (one round trip to each node holding some),
again while ids drop out and the index has more, and one more to remove the
dropped ids from that index with a compare-and-delete (an id whose row is gone
only once its score is over a minute old: it may be a create in flight).
Redis expires session keys by itself; :meth:`prune_expired`
(``manager.prune()``) erases expired sessions and removes what every index
still says about them, so run it now and then.

Hot spot: every listing index shares the hash tag ``{:idx}`` -- one slot
(the same one whatever the ``key_prefix``, as only the tag is hashed), so on
Cluster one node takes a small index update for every write to any session:
per-session work spreads over the nodes, the index upkeep does not. With many
writers, move that slot to a node of its own (``redis-cli --cluster reshard``,
the slot is ``CLUSTER KEYSLOT "{:idx}"``) and size that node for the write
rate, batch messages with ``extend`` rather than one ``append`` each, or split
the tenants over separate clusters (each store object names one).

``rotate_id`` is one script on a single server. On Cluster the two ids live in
different slots: the old id is frozen (it reads as absent), copied under the new
id in one script, then deleted and the indexes moved; a process that dies in
between leaves the old id frozen until it expires or is deleted, and the new id
readable but not yet listed.

Errors: connection errors, timeouts and other driver errors become
:class:`StoreUnavailable` with the driver's exception chained; the store
reconnects by itself once the server is back.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentsession._canonical import canonical_json
from agentsession._exceptions import SessionNotFound, StoreUnavailable
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SessionExport,
    SessionInfo,
    Unchecked,
    evolve,
)
from agentsession._rules import is_expired, place_entries
from agentsession.stores.redis._async.link import AsyncRedisLink, parse_url
from agentsession.stores.redis._records import (
    DEFAULT_PREFIX,
    Keys,
    append_args,
    decode_checkpoint,
    decode_entry,
    decode_page,
    decode_row,
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


class AsyncRedisStore:
    """Sessions in Redis or Redis Cluster (see the module docstring).

    Args:
        client: a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``
            (left open by :meth:`close`).
        connection_pool: a ``redis.asyncio.ConnectionPool`` to make the client from.
        key_prefix: the start of every key name (no ``{`` or ``}``).
    """

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

    async def import_session(self, export: SessionExport) -> None:
        info, nonce = export.session, _nonce()
        head = next((e.depth for e in export.entries if e.id == info.head), 0)
        row = row_fields(info, nonce, head_depth=head, checkpoints=len(export.checkpoints))
        entries = [x for e in export.entries for x in (e.id, encode_entry(e))]
        leaves = leaves_of(export.entries)
        points = [
            x
            for seq, c in enumerate(export.checkpoints, start=1)
            for x in (c.id, f"{seq}\t{c.entry_id or ''}\t{encode_checkpoint(c)}")
        ]
        counts = [str(len(x)) for x in (row, entries, leaves, points)]
        extra = [*counts, info.head or "", *row, *entries, *leaves, *points]
        await self._db.insert(info, "import", info.updated_at, nonce, extra)

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        row = await self._db.hgetall(self._db.keys.session(session_id)[0])
        if not row:
            raise SessionNotFound()
        info, owner, moving = decode_row(session_id, row)
        if moving or is_expired(info, now):
            raise SessionNotFound()
        self._db.remember(session_id, owner)
        return info

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

    async def delete_session(self, session_id: str) -> bool:
        db = self._db
        db.client()
        owner = db.owners.pop(session_id, "")
        keys, index = db.keys.session(session_id), db.keys.index(owner)
        args = [session_id, "0", "", owner, ""]
        if db.cluster:
            reply, (known, dropped) = await db.pipeline(
                [("delete", keys, args), ("idx_drop", index, args)]
            )
        else:
            reply = await db.run("delete", keys + index, args)
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
    ) -> SessionInfo:
        fields = [x for k, v in metadata.items() for x in ("~" + k, canonical_json(v))]
        return await self._db.write_row("update", session_id, now, expires_at, fields)

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
    ) -> tuple[SessionInfo, list[Entry]]:
        if not entries:
            return await self.get_session(session_id, now=now), []
        expected = "*" if expected_head is UNCHECKED else (expected_head or "")
        base = self._db.cached(session_id)
        # The same revision of the same incarnation of the id (a deleted and
        # re-created session starts again from revision 0).
        known = "" if base is None else f"{base.revision}\t{to_us(base.created_at)}"
        extra = [expected, known, str(len(entries)), *append_args(entries)]
        reply, info = await self._db.write("append", session_id, now, expires_at, extra)
        placed = place_entries(
            entries,
            parent_id=reply[3] or None,
            parent_depth=int(reply[4]),
            message_count=int(reply[5]),
            max_messages=None,
        )
        if info is None and base is not None:  # nobody else wrote since ``base``
            info = self._db.adopt(
                session_id,
                evolve(
                    base,
                    head=placed[-1].id,
                    message_count=placed[-1].message_index,
                    revision=base.revision + 1,
                    updated_at=now,
                    expires_at=expires_at,
                ),
            )
        if info is None:
            raise StoreUnavailable("the append script sent no row")
        return info, placed

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
        return point, decode_page(reply[4])

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        reply = await self._db.read("list_checkpoints", session_id, now, [])
        return self._checkpoints(session_id, reply[3])

    @staticmethod
    def _checkpoints(session_id: str, joined: str) -> list[Checkpoint]:
        found = [decode_checkpoint(session_id, k, v) for k, v in pairs(joined).items()]
        found.sort(key=lambda item: item[0])
        return [point for _, point in found]
