"""``AsyncPostgresStore``: PostgreSQL through psycopg 3 and ``psycopg_pool``.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

Every call is one statement and one round trip (the SQL and why it is shaped
so: :mod:`agentsession.stores.postgres._sql`); ``append`` locks the session
row inside its statement, so writers on any number of hosts build one chain.
Entry data is ``JSONB`` (numbers kept exact: ``_rows``), times are
``timestamptz``; migrations run on first use (``_migrations``). Opening, pool
settings, PgBouncer, migrations and failure behaviour: ``docs/stores/postgres.md``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agentsession._exceptions import (
    CheckpointNotFound,
    ConflictError,
    InvalidInput,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
)
from agentsession._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SearchHit,
    SessionExport,
    SessionInfo,
    Unchecked,
)
from agentsession._rules import check_expected_head
from agentsession._search import HitCollector, SearchQuery
from agentsession.extras import missing_extra
from agentsession.stores.postgres._link import dropped
from agentsession.stores.postgres._migrations import MIGRATIONS, MIGRATIONS_TABLE, latest_version
from agentsession.stores.postgres._params import (
    UNKNOWN_ENTRY,
    append_params,
    appended,
    check_status,
    checkpoint_params,
    import_params,
    session_params,
)
from agentsession.stores.postgres._rows import Rows, param_signature, pg_json, session_from_row
from agentsession.stores.postgres._sql import Statements, quote_schema
from agentsession.stores.postgres._url import split_url

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import AsyncConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("AsyncPostgresStore (psycopg 3, psycopg-pool)", "postgres") from exc

__all__ = ["AsyncPostgresStore"]


def _owner_filter(user_id: str | Unchecked | None) -> str:
    return "any" if user_id is UNCHECKED else "none" if user_id is None else "eq"


_SESSION_OPTIONS = "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan"
_TAKEN = "a session with this id already exists"


class AsyncPostgresStore:
    """A store in PostgreSQL (see the module docstring).

    Args:
        pool: a psycopg ``AsyncConnectionPool`` (opened on first use if it is not).
        schema: put the tables in this schema (created if missing) instead of
            the connections' ``search_path``.
        migrate: apply pending migrations on first use (default True).
        close_pool: close ``pool`` in :meth:`close` (default: only a pool the
            store created itself, as :meth:`from_url` does).
        search_language: the text search configuration (``"simple"``,
            ``"english"``, ...) the search index is built with, when the
            migration that creates it runs; the database keeps the one it
            was built with (``docs/design.md``, "Search").
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        schema: str | None = None,
        migrate: bool = True,
        close_pool: bool = False,
        search_language: str = "simple",
    ) -> None:
        if not re.fullmatch(r"[a-z_]{1,63}", search_language):
            raise InvalidInput("search_language must name a text search configuration")
        self._search_language = search_language
        self._pool = pool
        self._schema = schema
        self._sql = Statements(quote_schema(schema))
        self._migrate = migrate
        self._close_pool = close_pool
        self._ready = False
        self._closed = False
        # Statements already prepared on each pooled connection (see _execute).
        self._prepared: weakref.WeakKeyDictionary[Any, set[tuple[str, tuple[Any, ...]]]] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def from_url(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
    ) -> AsyncPostgresStore:
        """``postgresql://user:password@host:port/db?schema=name`` (``postgres://`` too).

        Every query parameter except ``schema`` and ``search_language`` goes to libpq (``sslmode``,
        ``connect_timeout``, ...). The pool is created closed; it opens on the
        first call. ``timeout``: seconds to wait for a connection before
        ``StoreUnavailable``.
        """
        conninfo, ours, options = split_url(url)
        # Sessions in UTC: psycopg then returns datetime.UTC itself, and rows
        # need no conversion. Generic plans: the statements are large, and a
        # custom plan per call costs more than running them.
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            conninfo,
            open=False,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "options": f"{options} {_SESSION_OPTIONS}".strip()},
            name="agentsession",
        )
        return cls(
            pool,
            schema=ours.get("schema"),
            close_pool=True,
            search_language=ours.get("search_language", "simple"),
        )

    @property
    def schema(self) -> str | None:
        """The schema holding the tables (``None``: the connections' search_path)."""
        return self._schema

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        """The psycopg connection pool the store runs on."""
        return self._pool

    def __repr__(self) -> str:
        return f"<{type(self).__name__} schema={self._schema!r}>"

    # -- plumbing ------------------------------------------------------------

    async def _prepare(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")
        if self._ready:
            return
        if self._migrate:
            await self.migrate()
        else:
            try:
                await self._pool.open()
            except psycopg.Error as exc:
                raise self._unavailable(exc) from exc
        self._ready = True

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        """The error for a driver failure, naming the server (no credentials)."""
        conninfo = self._pool.conninfo
        try:
            info = conninfo_to_dict(conninfo) if isinstance(conninfo, str) else {}
        except psycopg.Error:
            info = {}
        host = info.get("host") or "localhost"
        where = f"PostgreSQL at {host}:{info.get('port') or 5432} did not answer"
        return StoreUnavailable(f"{type(exc).__name__}: {exc}", hint=where)

    async def migrate(self) -> int:
        """Apply the pending migrations; returns how many ran (0 when current).

        Safe to run concurrently from many processes: they serialise on a
        transaction-level advisory lock keyed by the schema.
        """
        if self._closed:
            raise StoreClosed("the store is closed")
        try:
            await self._pool.open()
            return await self._apply_migrations()
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    async def _apply_migrations(self) -> int:
        prefix = self._sql.prefix
        conn = await self._checkout()
        try:
            if not conn.autocommit:
                await conn.set_autocommit(True)
            try:
                cur = await conn.execute(f"SELECT max(version) FROM {prefix}agentsession_migration")
                row = await cur.fetchone()
                if row is not None and row[0] == latest_version():
                    return 0
            except (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName):
                pass  # a fresh database: migrate under the lock below
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('agentsession.migrate:' || %s))",
                    (self._schema or "",),
                )
                if self._schema is not None:
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix[:-1]}")
                await conn.execute(MIGRATIONS_TABLE.format(p=prefix))
                cur = await conn.execute(f"SELECT version FROM {prefix}agentsession_migration")
                done = {r[0] for r in await cur.fetchall()}
                ran = 0
                for version, name, sql in MIGRATIONS:
                    if version in done:
                        continue
                    await conn.execute(sql.format(p=prefix, lang=self._search_language))
                    await conn.execute(
                        f"INSERT INTO {prefix}agentsession_migration (version, name) "
                        "VALUES (%s, %s)",
                        (version, name),
                    )
                    ran += 1
                return ran
        finally:
            await self._pool.putconn(conn)

    async def _rows(
        self, sql: str, params: Mapping[str, Any], *, taken: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run one statement on a pooled autocommit connection; all its rows.

        ``taken``: a unique violation means the session id is in use.
        """
        await self._prepare()
        try:
            conn = await self._checkout()
            try:
                if not conn.autocommit:
                    await conn.set_autocommit(True)
                cur = await self._execute(conn, sql, params)
                rows: list[tuple[Any, ...]] = await cur.fetchall()
                return rows
            finally:
                await self._pool.putconn(conn)
        except pg_errors.UniqueViolation as exc:
            if taken:
                raise ConflictError(_TAKEN) from exc
            raise self._unavailable(exc) from exc
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        """A connection from the pool that is not known to be dead.

        One whose backend died while it was idle is closed and handed back
        (the pool then connects anew) before anything is sent on it, so a
        call after an outage does not fail on a stale connection and no
        statement can run twice (``agentsession.stores.postgres._link``). Bounded:
        after ``max_size`` such ones the next is used as it is.
        """
        conn: psycopg.AsyncConnection[Any] = await self._pool.getconn()
        for _ in range(self._pool.max_size):
            if not dropped(conn):
                break
            await conn.close()
            await self._pool.putconn(conn)
            conn = await self._pool.getconn()
        return conn

    async def _execute(
        self, conn: psycopg.AsyncConnection[Any], sql: str, params: Mapping[str, Any]
    ) -> psycopg.AsyncCursor[Any]:
        """Execute as a server-side prepared statement, in one round trip.

        Left alone, psycopg runs a statement unprepared (planned anew each
        time) five times, then prepares it in a round trip of its own. Here it
        is prepared on first use, in a pipeline with its first execution, so
        every call is one round trip and planned once per connection.
        psycopg prepares per statement *and parameter types*, so the first use
        is tracked per :func:`param_signature`. A connection with
        ``prepare_threshold=None`` (e.g. behind PgBouncer in transaction mode)
        is respected: nothing is prepared.
        """
        if conn.prepare_threshold is None:
            return await conn.execute(sql, params)
        key = (sql, param_signature(params))
        done = self._prepared.setdefault(conn, set())
        if key in done:
            return await conn.execute(sql, params, prepare=True)
        async with conn.pipeline():
            cur = await conn.execute(sql, params, prepare=True)
        done.add(key)
        return cur

    async def _one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def _status_row(self, sql: str, params: Mapping[str, Any]) -> SessionInfo:
        row = await self._one(sql, params)
        check_status(None if row is None else row[0])
        assert row is not None
        return session_from_row(row, 1)

    async def _parts(self, sql: str, params: Mapping[str, Any]) -> Rows:
        result = Rows.decode(await self._rows(sql, params))
        if result.session is None:
            raise SessionNotFound()
        return result

    # -- sessions --------------------------------------------------------------

    async def create_session(self, info: SessionInfo) -> None:
        params = session_params(info) | {"now": info.created_at}
        await self._rows(self._sql.create, params, taken=True)

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        row = await self._one(self._sql.get, {"sid": session_id, "now": now})
        if row is None:
            raise SessionNotFound()
        return session_from_row(row)

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        sql = self._sql.list_sessions(agent=agent is not None, user=_owner_filter(user_id))
        params = {"agent": agent, "user": user_id, "limit": limit, "offset": offset, "now": now}
        return [session_from_row(r) for r in await self._rows(sql, params)]

    async def search(
        self,
        query: SearchQuery,
        *,
        user_id: str | Unchecked | None,
        agent: str | None,
        limit: int,
        now: datetime,
    ) -> list[SearchHit]:
        """``tsvector`` matches through the GIN index (``docs/design.md``, "Search")."""
        sql = self._sql.search(agent=agent is not None, user=_owner_filter(user_id))
        found = HitCollector(query, limit)
        params: dict[str, Any] = {
            "query": query.text,
            "agent": agent,
            "user": user_id,
            "now": now,
            "limit": 2 * limit,
            "offset": 0,
        }
        while True:
            rows = await self._rows(sql, params)
            for session_id, entry_id, digest, created_at, text, role, rank in rows:
                found.add(session_id, digest, rank, created_at, entry_id, text or "", role)
            params["offset"] += params["limit"]
            if len(rows) < params["limit"] or len(found.hits()) >= limit:
                return found.hits()

    async def delete_session(
        self, session_id: str, *, expected_revision: int | None = None
    ) -> bool:
        params = {"sid": session_id, "revision": expected_revision}
        ((erased, there),) = await self._rows(self._sql.delete, params)
        if not erased and there and expected_revision is not None:
            raise ConflictError("the session changed since it was read")
        return bool(erased)

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        params = {
            "sid": session_id,
            "patch": pg_json(metadata),
            "now": now,
            "expires_at": expires_at,
            "revision": expected_revision,
        }
        row = await self._one(self._sql.update, params)
        if row is None:
            if expected_revision is not None and await self._one(self._sql.get, params):
                raise ConflictError("the session changed since it was read")
            raise SessionNotFound()
        return session_from_row(row)

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        params = {
            "sid": session_id,
            "new": new_id,
            "set_user": user_id is not UNCHECKED,
            "user_id": None if user_id is UNCHECKED else user_id,
            "now": now,
            "expires_at": expires_at,
        }
        rows = await self._rows(self._sql.rotate, params, taken=True)
        if not rows:
            raise SessionNotFound()
        return session_from_row(rows[0])

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        return len(await self._rows(self._sql.prune, {"now": now, "batch": batch}))

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
            info = await self.get_session(session_id, now=now)
            check_expected_head(info.head, expected_head)
            return info, []
        one, params = append_params(
            session_id,
            entries,
            now=now,
            expires_at=expires_at,
            expected_head=expected_head,
            new_root=new_root,
        )
        sql = self._sql.append_one if one else self._sql.append
        return appended(entries, await self._one(sql, params))

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
        params = {"sid": session_id, "now": now, "before": before, "limit": limit, "kind": kind}
        rows = await self._parts(self._sql.read_path[with_data], params)
        check_status(rows.flag)
        assert rows.session is not None
        return rows.session, rows.entries

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        params = {"sid": session_id, "now": now, "entry": entry_id}
        rows = await self._parts(self._sql.get_entry, params)
        if not rows.entries:
            raise InvalidInput(UNKNOWN_ENTRY)
        return rows.entries[0]

    async def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        params = {
            "sid": session_id,
            "entry": entry_id,
            "revision": expected_revision,
            "now": now,
            "expires_at": expires_at,
        }
        return await self._status_row(self._sql.set_head, params)

    async def list_leaves(
        self,
        session_id: str,
        *,
        now: datetime,
    ) -> tuple[SessionInfo, list[Entry]]:
        rows = await self._parts(self._sql.list_leaves, {"sid": session_id, "now": now})
        assert rows.session is not None
        return rows.session, rows.entries

    # -- checkpoints -------------------------------------------------------------

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        params = checkpoint_params(checkpoint, now=now, expires_at=expires_at)
        return await self._status_row(self._sql.save_checkpoint, params)

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        params = {"sid": session_id, "cid": checkpoint_id, "now": now, "with_path": with_path}
        rows = await self._parts(self._sql.get_checkpoint, params)
        if not rows.checkpoints:
            raise CheckpointNotFound("unknown checkpoint for this session")
        return rows.checkpoints[0], rows.entries

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        rows = await self._parts(self._sql.list_checkpoints, {"sid": session_id, "now": now})
        return rows.checkpoints

    # -- export / import -----------------------------------------------------------

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        rows = await self._parts(self._sql.export, {"sid": session_id, "now": now})
        assert rows.session is not None
        return SessionExport(rows.session, tuple(rows.entries), tuple(rows.checkpoints))

    async def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        params = import_params(export)
        if expected_revision is None:
            await self._rows(self._sql.import_, params, taken=True)
            return
        params["expected"] = expected_revision
        if not await self._rows(self._sql.import_replace, params):
            if await self._rows(self._sql.exists, params):
                raise ConflictError("the session changed since it was read")
            raise SessionNotFound()

    async def close(self) -> None:
        """Close the pool if the store owns it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._close_pool:
            await self._pool.close()
