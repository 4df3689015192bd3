"""The connection side of the Redis store: one lazily made client, the Lua
scripts, pipelines and the upkeep of the listing indexes.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from agentsession._exceptions import (
    InvalidInput,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
    map_exceptions,
)
from agentsession._models import UNCHECKED, Entry, NewEntry, SessionInfo, Unchecked, json_copy
from agentsession._rules import is_expired, place_entries
from agentsession.extras import missing_extra
from agentsession.stores.redis._records import (
    COUNT,
    DEFAULT_PREFIX,
    HEAD,
    Keys,
    Recent,
    Seen,
    advanced,
    append_head,
    decode_row,
    entry_args,
    frozen,
    head_sum,
    opt_us,
    owner_of,
    pairs,
    raise_for,
    split0,
    texts,
    thawed,
    to_us,
    user_hash,
)
from agentsession.stores.redis._scripts import APPEND_SCRIPT, INDEX_SCRIPTS, SESSION_SCRIPTS

from .chains import chain_head, store_checksums  # relative: one module name for mypy

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.commands.core import AsyncScript
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("the Redis store (redis-py)", "redis") from exc

__all__ = ["AsyncRedisLink", "parse_url"]

DRIVER_ERRORS: Final = {
    redis_errors.ConnectionError: StoreUnavailable,
    redis_errors.TimeoutError: StoreUnavailable,
    redis_errors.RedisClusterException: StoreUnavailable,
    redis_errors.RedisError: StoreUnavailable,
    OSError: StoreUnavailable,
}
_SCRIPTS: Final = {**SESSION_SCRIPTS, **INDEX_SCRIPTS, "append": APPEND_SCRIPT}
_OWNER_CACHE: Final = 65_536  # session id -> owner: ~100 bytes each
# Rows of sessions written recently, for the append's fast path (~1 KB each:
# 65,536 of them held some 65 MB in a long migration).
_ROW_CACHE: Final = 4_096
_KEYS_CACHE: Final = 4_096  # sessions appended to recently (the keys take ~600 bytes each)
_GRACE_US: Final = 60_000_000  # Cluster: a listed id without a row may be a create in flight
# An append whose head moved is placed again on the row as it is (each try
# refused so because another one was applied); the last try is placed by the
# script whatever the head (others kept winning), its checksums stored next.
_PLACE_AFTER: Final = 4
Key = str | bytes  # bytes: a key name encoded once and kept (see ``_keys_of_append``)
Call = tuple[str, Sequence[Key], list[str]]  # script name or raw command, keys, args
Client = Redis | RedisCluster


def parse_url(url: str, options: dict[str, Any]) -> tuple[str, Callable[[], Client]]:
    """The key prefix of a store URL and a factory of its (unconnected) client."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "key_prefix"), DEFAULT_PREFIX)
    scheme = parts.scheme.lower()
    rest = urlencode([(k, v) for k, v in query if k != "key_prefix"])
    # Not urlunsplit: it drops the "//" of a URL without a host (unix:///x.sock).
    plain = f"{scheme.removesuffix('+cluster')}://{parts.netloc}{parts.path}"
    plain += f"?{rest}" if rest else ""
    settings = {"decode_responses": True, "socket_connect_timeout": 5.0, **options}
    cluster = scheme.endswith("+cluster")
    # redis-py hands unknown URL parameters to each connection it makes, so
    # a misspelt one would fail only at the first command, with a TypeError:
    # make one connection object now (it does not connect) to refuse it here.
    # A cluster client takes options of its own: only its URL is checked.
    try:
        pool: Any = Redis.from_url(plain, **({} if cluster else settings)).connection_pool
        pool.make_connection()
    except (TypeError, ValueError) as exc:  # redis-py's messages name the setting, not its value
        raise InvalidInput(f"the Redis URL or options hold a bad setting: {exc}") from None
    kind = RedisCluster if cluster else Redis
    return prefix, lambda: kind.from_url(plain, **settings)


class AsyncRedisLink:
    """What the store needs from Redis, in as few round trips as the work needs."""

    def __init__(
        self,
        keys: Keys,
        client: Client | None,
        pool: ConnectionPool | None,
        factory: Callable[[], Client] | None,
    ) -> None:
        self.keys = keys
        self.cluster = False
        # session id -> "agent\tuser-hash": which listing indexes a write touches
        # (unknown: a second round trip). Least recently used entries go first.
        self.owners: Recent[str] = Recent(_OWNER_CACHE)
        # session id -> the row as last seen (reads that find it unchanged skip
        # decoding it again; an append places its entries on it). It stays
        # private: callers get SessionInfo copies, which they may change.
        self._rows: Recent[Seen] = Recent(_ROW_CACHE)
        # session id -> owner, whether it expires, the append script's keys.
        self._append_keys: Recent[tuple[str, bool, list[bytes]]] = Recent(_KEYS_CACHE)
        self.place_after = _PLACE_AFTER  # refusals before the script places an append
        self._given = client
        if factory is None:
            if pool is not None:
                factory = lambda: Redis(connection_pool=pool)  # noqa: E731
            else:
                factory = lambda: Redis(decode_responses=True)  # noqa: E731
        self._factory = factory
        self._owns_client = client is None and pool is None
        self._redis: Client | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._shas: dict[str, bytes] = {}
        self._decoded = True
        self._closed = False
        self._lock = threading.Lock()

    def client(self) -> Client:
        if self._closed:
            raise StoreClosed("the store is closed")
        client = self._redis
        if client is None:
            with self._lock:
                client = self._redis
                if client is None:
                    # A sync RedisCluster connects as it is made (to read the slots).
                    with map_exceptions(DRIVER_ERRORS, where=self.where):
                        client = self._given if self._given is not None else self._factory()
                    self._scripts = {n: client.register_script(s) for n, s in _SCRIPTS.items()}
                    self._shas = {n: s.sha.encode() for n, s in self._scripts.items()}
                    self.cluster = isinstance(client, RedisCluster)
                    self._decoded = bool(client.get_encoder().decode_responses)
                    self._redis = client
        return client

    def where(self) -> str | None:
        """Which server a failure concerns, for the error's hint (no credentials)."""
        client = self._redis or self._given
        if client is None or self.cluster:
            return "Redis Cluster did not answer" if self.cluster else None
        kwargs = cast(Any, client).connection_pool.connection_kwargs
        if kwargs.get("path"):
            return f"Redis at unix:{kwargs['path']} did not answer"
        return (
            f"Redis at {kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)} did not answer"
        )

    def text(self, value: Any) -> Any:
        return value if self._decoded else texts(value)

    async def run(self, name: str, keys: Sequence[Key], args: list[str]) -> Any:
        """One script call: one round trip (loading the script on NOSCRIPT).
        Plain ``EVALSHA``, without ``Script.__call__`` and with the driver's
        errors mapped only when one is raised: appends pay for every step."""
        client: Any = self.client()
        sha, count = self._shas[name], len(keys)
        try:
            try:
                reply = await client.execute_command("EVALSHA", sha, count, *keys, *args)
            except redis_errors.NoScriptError:  # the server restarted or never saw it
                await client.script_load(self._scripts[name].script)
                reply = await client.execute_command("EVALSHA", sha, count, *keys, *args)
        except Exception:
            with map_exceptions(DRIVER_ERRORS, where=self.where):
                raise
        return self.text(reply)

    async def pipeline(self, calls: Sequence[Call]) -> list[Any]:
        """Scripts and commands in one pipeline: one round trip (per node)."""
        with map_exceptions(DRIVER_ERRORS, where=self.where):
            client = self.client()
            for attempt in range(2):
                pipe = client.pipeline(transaction=False)
                for name, keys, args in calls:
                    # On Cluster, name the node (from the client's slot table):
                    # redis-py would otherwise ask a server for EVALSHA's keys.
                    route = self._route(client, keys[0])
                    script = self._scripts.get(name)
                    if script is None:
                        pipe.execute_command(name, *keys, *args, **route)
                    else:
                        command = ("EVALSHA", script.sha, len(keys))
                        pipe.execute_command(*command, *keys, *args, **route)
                results = await pipe.execute(raise_on_error=False)
                unknown = {
                    name
                    for (name, _, _), result in zip(calls, results, strict=True)
                    if isinstance(result, redis_errors.NoScriptError)
                }
                if not unknown or attempt:
                    break
                for name in unknown:  # the server restarted or never saw them
                    await client.script_load(self._scripts[name].script)
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return [self.text(r) for r in results]

    def _route(self, client: Client, key: Key) -> dict[str, Any]:
        if not isinstance(client, RedisCluster):
            return {}
        try:
            return {"target_nodes": cast(Any, client).get_node_from_key(key)}
        except redis_errors.SlotNotCoveredError:  # slot table not loaded yet (or moving)
            return {}

    async def hgetall(self, key: str) -> dict[str, str]:
        with map_exceptions(DRIVER_ERRORS, where=self.where):
            row = await self.client().hgetall(key)
        return dict(self.text(row))

    async def window(self, key: str, start: int, count: int) -> list[tuple[str, float]]:
        """``count`` ids of an index from rank ``start``, newest first, with scores."""
        with map_exceptions(DRIVER_ERRORS, where=self.where):
            found = await self.client().zrevrange(key, start, start + count - 1, withscores=True)
        return [(self.text(m), float(s)) for m, s in cast(list[Any], found)]

    async def list_across_slots(
        self, key: str, rank: int, limit: int, keep: Callable[[SessionInfo], bool], now: datetime
    ) -> list[SessionInfo]:
        """Cluster listing: a window of the index (its node), then the rows in
        one pipeline (one round trip to each node holding some), again while
        ids drop out and the index has more; then one to clean the index."""
        now_us = int(to_us(now))
        found: list[SessionInfo] = []
        stale: list[str] = []
        while len(found) < limit:
            need = limit - len(found)
            window = await self.window(key, rank, need)
            if not window:
                break
            rank += len(window)
            calls: list[Call] = [("HGETALL", self.keys.session(s)[:1], []) for s, _ in window]
            rows = await self.pipeline(calls)
            for (sid, score), row in zip(window, rows, strict=True):
                if not row:
                    if score < now_us - _GRACE_US:  # else maybe a create in flight
                        stale += [sid, repr(score)]
                    continue
                info, owner, moving = decode_row(sid, row)
                if moving:
                    continue
                if is_expired(info, now) or not keep(info):
                    stale += [sid, repr(score)]  # dropped only if its score is unchanged
                    continue
                self.remember(sid, owner)
                found.append(info)
            if len(window) < need:  # the end of the index
                break
        if stale:
            await self.run("idx_clean", [key], ["", "", "", "", "", *stale])
        return found

    def remember(self, session_id: str, owner: str) -> None:
        self.owners.put(session_id, owner)

    def decode(self, session_id: str, joined: str) -> SessionInfo:
        """The row a script replied with (NUL-joined) as a SessionInfo."""
        seen = self._rows.get(session_id)
        if seen is not None and seen.joined == joined and session_id in self.owners:
            self.owners.move_to_end(session_id)
            self._rows.move_to_end(session_id)
            return thawed(seen.values)
        info = self._see(session_id, joined)
        info.metadata = json_copy(dict(info.metadata))  # the one in the tuple stays private
        return info

    def _see(self, session_id: str, joined: str) -> SessionInfo:
        """Remember a row (NUL-joined) and its owner; the SessionInfo returned
        shares its metadata with the row kept."""
        return self.keep(session_id, joined)[0]

    def keep(
        self, session_id: str, joined: str, row: Mapping[str, str] | None = None
    ) -> tuple[SessionInfo, Seen]:
        """:meth:`_see` a row (NUL-joined, or read as a hash: ``row``); the
        copy kept too."""
        row = pairs(joined) if row is None else row
        info, owner, _ = decode_row(session_id, row)
        self.remember(session_id, owner)
        depth, created = int(row.get("hd") or 0), row["crt"]
        seen = Seen(joined, frozen(info), depth, created, head_sum(row))
        self._rows.put(session_id, seen)
        return info, seen

    async def _fetch(self, session_id: str) -> tuple[SessionInfo, Seen]:
        """The row alone (one HGETALL), kept: an append over it is stored as sent."""
        row = await self.hgetall(self.keys.session(session_id)[0])
        if not row or "mv" in row:
            raise SessionNotFound()
        return self.keep(session_id, "", row)

    async def get_session(self, session_id: str, now: datetime) -> SessionInfo:
        """The store's ``get_session``: :meth:`_fetch`."""
        info = (await self._fetch(session_id))[0]
        if is_expired(info, now):
            raise SessionNotFound()
        info.metadata = json_copy(dict(info.metadata))  # the one in the tuple stays private
        return info

    async def read(self, name: str, session_id: str, now: datetime, extra: list[str]) -> Any:
        args = [session_id, to_us(now), "", "", "", *extra]
        reply = await self.run(name, self.keys.session(session_id), args)
        if reply[0] != "ok":
            raise_for(reply)
        return reply

    async def write(
        self,
        name: str,
        session_id: str,
        now: datetime,
        expires_at: datetime | None,
        extra: list[str],
        nonce: str = "",
    ) -> tuple[Any, SessionInfo | None]:
        """A per-session write script and the touch of its listing indexes:
        inside the script on one server, beside it in a pipeline on Cluster.

        The row comes back as ``None`` when the script left it out."""
        self.client()
        owner = self.owners.get(session_id, "")
        index = self.keys.index(owner)
        args = [session_id, to_us(now), opt_us(expires_at), owner, nonce, *extra]
        keys = self.keys.session(session_id)
        if self.cluster:
            calls: list[Call] = [(name, keys, args), ("idx_touch", index, args[:5])]
            reply, indexed = await self.pipeline(calls)
        else:
            reply = await self.run(name, keys + index, args)
            indexed = reply[1] if reply[0] == "ok" else 0
        if reply[0] != "ok":
            raise_for(reply)
        return reply, await self._settle(session_id, owner, indexed, reply[2], args[1:3])

    async def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
    ) -> tuple[SessionInfo, list[Entry]]:
        """The store's ``append`` (at least one entry): one ``APPEND_SCRIPT``
        call, with the touch of the listing indexes as :meth:`write` does.

        The entries are placed under the head of the row as this object last
        saw it (``Seen``, read first if it has none), their path checksums
        chained from that head's (a head without one gets it first:
        ``chain_head``). If that copy is current the script stores them as
        sent and replies no row, and the copy is advanced here; if the head is
        the same but the row is not, it stores them and sends the row; if the
        head moved, it writes nothing and sends the row, to place them again
        on. After ``place_after`` such refusals the script places them itself
        and their checksums are stored next (see ``APPEND_SCRIPT``)."""
        self.client()
        expected = "*" if expected_head is UNCHECKED else (expected_head or "")
        now_s, exp = to_us(now), opt_us(expires_at)
        owner = self.owners.get(session_id, "")
        seen = self._rows.get(session_id) if owner else None
        for tries in range(self.place_after + 1):
            if seen is None:  # not seen (or forgotten): read it first
                seen = (await self._fetch(session_id))[1]
            force = tries == self.place_after
            if seen.values[HEAD] is not None and seen.checksum is None and not force:
                seen, _ = await chain_head(self, session_id, now)
            owner = self.owners.get(session_id, owner)
            placed = place_entries(
                entries,
                parent_id=seen.values[HEAD],
                parent_depth=seen.depth,
                message_count=seen.values[COUNT],
                max_messages=None,
                parent_checksum=seen.checksum,
            )
            args = [append_head(session_id, now_s, exp, expected, owner, seen, placed[-1], force)]
            args += entry_args(placed, entries)
            keys = self._keys_of_append(session_id, owner, bool(exp))
            if self.cluster:
                touch = [session_id, now_s, exp, owner, ""]
                calls: list[Call] = [
                    ("append", keys, args),
                    ("idx_touch", self.keys.index(owner), touch),
                ]
                text, indexed = await self.pipeline(calls)
            else:
                text = await self.run("append", keys, args)
            status, _, rest = text.partition("\t")
            if status == "moved":  # nothing written: place them on the row as it is
                seen = self.keep(session_id, rest)[1]
                continue
            if status == "ok":
                mark, _, row = rest.partition("\t")
            elif status in ("placed", "again"):  # on this base (or placed then)
                mark, parent, depth, count, checksum, row = rest.split("\t", 5)
                placed = place_entries(
                    entries,
                    parent_id=parent or None,
                    parent_depth=int(depth),
                    message_count=int(count),
                    max_messages=None,
                    parent_checksum=checksum or None,
                )
            else:
                raise_for(text.split("\t"))
            if not self.cluster:
                indexed = int(mark)
            if not row:  # stored as sent on a current copy: advance it here
                if indexed != 1:
                    await self._settle(session_id, owner, indexed, "", [now_s, exp])
                self.remember(session_id, owner)  # recently used: evicted last
                tip = placed[-1]
                mine = advanced(seen.values, tip, now, expires_at)
                self._rows.put(session_id, Seen("", mine, tip.depth, seen.created, tip.checksum))
                return thawed(mine), placed
            info = await self._settle(session_id, owner, indexed, row, [now_s, exp])
            if info is None:
                raise StoreUnavailable("the append script sent no row")
            if status == "placed":
                placed = await self._chain_placed(session_id, now, placed)
            return info, placed
        raise StoreUnavailable("the append script refused to place the entries")

    async def _chain_placed(
        self, session_id: str, now: datetime, placed: list[Entry]
    ) -> list[Entry]:
        """Store the checksums of entries the append script placed without
        them, chained from their base's; on a base without one either, those
        of the whole gap (``chain_head``). The entries with theirs."""
        if placed[-1].checksum is not None:
            sums = [x for e in placed for x in (e.id, e.checksum or "")]
            self.keep(session_id, await store_checksums(self, session_id, now, sums))
            return placed
        _, stored = await chain_head(self, session_id, now)
        return [replace(e, checksum=stored.get(e.id)) for e in placed]

    def _keys_of_append(self, session_id: str, owner: str, expiring: bool) -> list[bytes]:
        """The append script's keys, encoded once (redis-py's packing of a
        str costs several type checks per argument)."""
        known = self._append_keys.get(session_id)
        if known is not None and known[0] == owner and known[1] == expiring:
            return known[2]
        encode = self.client().get_encoder().encode
        keys = [encode(k) for k in self.keys.append(session_id, owner, expiring, not self.cluster)]
        self._append_keys.put(session_id, (owner, expiring, keys))
        return keys

    async def _settle(
        self, session_id: str, owner: str, indexed: int, row: str, args: list[str]
    ) -> SessionInfo | None:
        """After a write: the row it sent back (if any), decoded, and the owner's
        listing indexes touched by a second trip if the write could not
        (``args`` = now, expires_at)."""
        info = self.decode(session_id, row) if row else None
        actual = self.owners.get(session_id, owner)
        if indexed != 1 or actual != owner:  # the owner was not known: a second trip
            touch = [session_id, *args, actual, ""]
            await self.run("idx_touch", self.keys.index(actual), touch)
        if actual:
            self.remember(session_id, actual)  # recently used: evicted last
        return info

    async def write_row(
        self,
        name: str,
        session_id: str,
        now: datetime,
        expires_at: datetime | None,
        extra: list[str],
    ) -> SessionInfo:
        """:meth:`write` for scripts that always send the row back (with a nonce)."""
        _, info = await self.write(name, session_id, now, expires_at, extra, secrets.token_hex(8))
        if info is None:
            raise StoreUnavailable(f"the {name} script sent no row")
        return info

    async def insert(
        self, info: SessionInfo, name: str, now: datetime, nonce: str, extra: list[str]
    ) -> None:
        """Create (or import) a session and list it, replacing an expired one."""
        self.client()
        owner = owner_of(info.agent, info.user_id)
        args = [info.id, to_us(now), opt_us(info.expires_at), owner, nonce, *extra]
        keys, index = self.keys.session(info.id), self.keys.index(owner)
        if self.cluster:
            calls: list[Call] = [(name, keys, args), ("idx_set", index, [*args[:5], "NX"])]
            reply, _ = await self.pipeline(calls)
        else:
            reply = await self.run(name, keys + index, args)
        if reply[0] != "ok":
            raise_for(reply)
        self.remember(info.id, owner)
        if reply[2]:  # the row as created: the first append can be stored as sent
            self._see(info.id, reply[2])
        replaced = reply[3] if len(reply) > 3 else ""
        if replaced and self.cluster:  # NX left the expired session's index entries
            await self.run("idx_set", index, [*args[:5], ""])
        if replaced and replaced != owner:
            await self.drop_owned([(info.id, replaced)])

    async def drop_owned(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Remove ids from the agent/user indexes of the given owners."""
        calls: list[Call] = [
            ("ZREM", [key], [sid])
            for sid, owner in pairs
            if owner
            for key in self.keys.owned(owner)
        ]
        if calls:
            await self.pipeline(calls)

    async def rotate_across_slots(
        self, args: list[str], user_id: str | Unchecked | None, new_owner: str
    ) -> tuple[SessionInfo, str]:
        """Cluster ``rotate_id``: freeze the old id, copy it, delete the old one."""
        session_id, now_s, exp, owner, nonce, new_id = args
        old_keys = self.keys.session(session_id)
        reply = await self.run("rotate_out", old_keys, args)
        if reply[0] != "ok":
            raise_for(reply)
        row = pairs(reply[2])
        row.pop("mv", None)
        if not isinstance(user_id, Unchecked):
            row.pop("user", None)
            if user_id is not None:
                row["user"] = user_id
            row["uh"] = user_hash(user_id)
        row.update(rev=str(int(row["rev"]) + 1), upd=now_s, exp=exp, wn=nonce)
        fields = [x for kv in row.items() for x in kv]
        parts = [fields, split0(reply[3]), split0(reply[4]), split0(reply[5])]
        counts = [str(len(p)) for p in parts]
        data = (x for part in parts for x in part)
        # The import script's last argument '' : the new id must be free.
        copy = [new_id, now_s, exp, new_owner, nonce, *counts, row.get("head", ""), *data, ""]
        placed = await self.run("import", self.keys.session(new_id), copy)
        if placed[0] != "ok":
            await self.run("unfreeze", old_keys, args)
            raise_for(placed)
        _, drop, _ = await self.pipeline(
            [
                ("DEL", old_keys, []),
                ("idx_drop", self.keys.index(owner), args[:5]),
                ("idx_set", self.keys.index(new_owner), [*copy[:5], ""]),
            ]
        )
        if drop[1] != 1:
            await self.drop_owned([(session_id, drop[0])])
        return self.decode(new_id, placed[2]), placed[3] if len(placed) > 3 else ""

    async def prune(self, now: datetime, batch: int) -> int:
        """Erase up to ``batch`` expired sessions and their index entries."""
        now_s, keys = to_us(now), self.keys
        args = ["", now_s, "", "", "", str(batch)]
        ids, owners = await self.run("prune_scan", [keys.exp, keys.owner], args)
        if not ids:
            return 0
        replies = await self.pipeline(
            [("prune_one", keys.session(s), [s, now_s, "", "", ""]) for s in ids]
        )
        calls: list[Call] = []
        erased = 0
        for sid, owner, reply in zip(ids, owners, replies, strict=True):
            if reply[0] == "ok":
                erased += 1
                self.owners.pop(sid, None)
                calls.append(("idx_drop", keys.index(owner), [sid, now_s, "", owner, ""]))
            elif reply[3]:  # alive: its expiry moved on since the score was written
                calls.append(("ZADD", [keys.exp], ["XX", reply[3], sid]))
            else:
                calls.append(("ZREM", [keys.exp], [sid]))
        await self.pipeline(calls)
        return erased

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        client, self._redis = self._redis, None
        if client is not None and self._owns_client:
            # redis-py's sync RedisCluster.from_url gives each node a pool that
            # close() leaves connected (node clients do not own their pools).
            nodes: list[Any] = cast(Any, client).get_nodes() if self.cluster else []
            pools = [
                node.redis_connection.connection_pool
                for node in nodes
                if getattr(node, "redis_connection", None) is not None
            ]
            with map_exceptions(DRIVER_ERRORS, where=self.where):
                await client.aclose()
                for pool in pools:
                    pool.disconnect()
