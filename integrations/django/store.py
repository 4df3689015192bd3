"""The ORM store: the store protocol on the Django ORM, in the project's database.

``AGENTSESSION = {"STORE": "django"}`` (or the URL ``django://<alias>``) keeps
sessions in the tables of :mod:`.models`, migrated with the project. Only the
thin protocol lives here; every rule (placing entries, expiry, compare-and-swap)
comes from :mod:`agentsession.store`, exactly as the other stores use it.

Each write is one ``transaction.atomic`` block that locks the session row with
``select_for_update`` (PostgreSQL, MySQL, Oracle), so concurrent appends form one
chain. SQLite has no row locks: give the database
``"OPTIONS": {"transaction_mode": "IMMEDIATE"}`` so writers queue instead of
failing with "database is locked" (system check ``agentsession.W005``).

Django keeps one connection per thread: code that uses the store in threads
it starts itself closes them (``django.db.connections.close_all()``) before the
thread ends, as for any ORM use outside a request. Session ids are query
parameters like any other value, so ``django.db.backends`` DEBUG logging (SQL
with parameters, ``DEBUG = True``) shows them: keep it off in production.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db import IntegrityError as DbIntegrityError
from django.db.models import F, QuerySet
from django.db.models.functions import Collate

from agentsession import (
    UNCHECKED,
    AgentSessionError,
    CheckpointNotFound,
    ConflictError,
    InvalidInput,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
)
from agentsession.store import (
    SCAN_SESSIONS,
    Checkpoint,
    Entry,
    NewEntry,
    ScanSearch,
    SessionExport,
    SessionInfo,
    Unchecked,
    canonical_json,
    check_expected_head,
    check_revision,
    is_expired,
    load_json_object,
    map_exceptions,
    place_entries,
    with_checksums,
)

from .._offload import SyncToAsyncStore
from ._checksums import fill_in_checksums
from ._queries import (
    binary_collation,
    checkpoint_of,
    checkpoint_row,
    entry_of,
    entry_row,
    info_of,
    leaves_query,
    path_query,
    session_row,
)
from .models import StoredCheckpoint, StoredEntry, StoredSession

__all__ = ["AsyncDjangoStore", "DjangoStore"]

_ERRORS: dict[type[BaseException], type[AgentSessionError]] = {
    DbIntegrityError: ConflictError,
    DatabaseError: StoreUnavailable,
}


class DjangoStore(ScanSearch):
    """A store on the Django ORM (thread-safe: each thread uses its own connection).

    Args:
        using: the database alias from ``settings.DATABASES``.
    """

    #: Search reads the newest sessions the filters allow, up to this many
    #: (``docs/design.md``, "Search").
    scan_sessions = SCAN_SESSIONS

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> DjangoStore:
        """``django://`` (the default database) or ``django://<alias>``."""
        return cls(urlsplit(url).netloc or DEFAULT_DB_ALIAS)

    def __repr__(self) -> str:
        return f"<DjangoStore using={self.using!r}>"

    # -- plumbing ------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, *, atomic: bool = False) -> Iterator[None]:
        if self._closed:
            raise StoreClosed("the store is closed")
        try:
            with map_exceptions(_ERRORS):
                if atomic:
                    with transaction.atomic(using=self.using):
                        yield
                else:
                    yield
        except StoreUnavailable as exc:
            if self._tables_missing():
                raise StoreUnavailable(
                    f"the agentsession tables are missing from database {self.using!r}",
                    hint="run `manage.py migrate` (agentsession's tables are missing)",
                ) from exc.__cause__
            raise

    def _tables_missing(self) -> bool:
        # Only on the failure path: is it the table that is missing?
        try:
            with connections[self.using].cursor() as cursor:
                names = connections[self.using].introspection.table_names(cursor)
        except DatabaseError:
            return False
        return StoredSession._meta.db_table not in names

    def _sessions(self) -> QuerySet[StoredSession]:
        return StoredSession.objects.using(self.using)

    def _entries(self, row: StoredSession) -> QuerySet[StoredEntry]:
        return StoredEntry.objects.using(self.using).filter(session=row)

    def _checkpoints(self, row: StoredSession, session_id: str) -> list[Checkpoint]:
        rows = StoredCheckpoint.objects.using(self.using).filter(session=row)
        found = [checkpoint_of(c, session_id) for c in rows]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def _live(
        self, session_id: str, now: datetime, *, lock: bool = False
    ) -> tuple[StoredSession, SessionInfo]:
        rows = self._sessions().select_for_update() if lock else self._sessions()
        row = rows.filter(session_id=session_id).first()
        if row is None:
            raise SessionNotFound()
        info = info_of(row)
        if is_expired(info, now):
            raise SessionNotFound()
        return row, info

    def _save(
        self, row: StoredSession, now: datetime, expires_at: datetime | None, **changes: Any
    ) -> SessionInfo:
        """Write a mutation: bump the revision, stamp ``updated_at`` and expiry."""
        for name, value in changes.items():
            setattr(row, name, value)
        row.revision += 1
        row.updated_at = now
        row.expires_at = expires_at
        row.save(using=self.using, update_fields=[*changes, "revision", "updated_at", "expires_at"])
        return info_of(row)

    def _path(
        self,
        row: StoredSession,
        start: str,
        *,
        limit: int | None = None,
        kind: str | None = None,
        with_data: bool = True,
    ) -> list[Entry]:
        rows = path_query(self.using, row, start, limit=limit, kind=kind, with_data=with_data)
        return [entry_of(r, with_data=with_data) for r in reversed(list(rows))]

    def _new_row(self, info: SessionInfo) -> StoredSession:
        existing = self._sessions().select_for_update().filter(session_id=info.id).first()
        if existing is not None:
            if not is_expired(info_of(existing), info.updated_at):
                raise ConflictError("a session with this id already exists")
            existing.delete()
        row = session_row(info)
        row.save(using=self.using, force_insert=True)
        return row

    # -- the protocol ----------------------------------------------------------

    def create_session(self, info: SessionInfo) -> None:
        with self._guard(atomic=True):
            self._new_row(info)

    def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        with self._guard():
            return self._live(session_id, now)[1]

    def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        with self._guard():
            rows = self._sessions().exclude(expires_at__lte=now)
            if agent is not None:
                rows = rows.filter(agent=agent)
            if user_id is None:
                rows = rows.filter(user_id__isnull=True)
            elif user_id is not UNCHECKED:
                rows = rows.filter(user_id=user_id)
            collation = binary_collation(connections[self.using].vendor)
            tie = F("session_id") if collation is None else Collate("session_id", collation)
            rows = rows.order_by(F("updated_at").desc(), tie.desc())
            return [info_of(r) for r in rows[offset : offset + limit]]

    def delete_session(self, session_id: str, *, expected_revision: int | None = None) -> bool:
        with self._guard(atomic=True):
            found = self._sessions().select_for_update().filter(session_id=session_id)
            revision = found.values_list("revision", flat=True).first()
            if revision is None:
                return False
            check_revision(revision, expected_revision)
            _, deleted = found.delete()
            return deleted.get(StoredSession._meta.label, 0) > 0

    def append(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_head: str | Unchecked | None,
        new_root: bool = False,
    ) -> tuple[SessionInfo, list[Entry]]:
        with self._guard(atomic=True):
            row, info = self._live(session_id, now, lock=True)
            check_expected_head(info.head, expected_head)
            head = None if new_root else info.head
            depth, checksum = 0, None
            if head is not None:
                # The parent's checksum comes with its depth: no query more.
                read = self._entries(row).values_list("depth", "checksum")
                depth, checksum = read.get(entry_id=head)
                if checksum is None:  # written by an earlier release (a rolling deploy)
                    checksum = fill_in_checksums(path_query(self.using, row, head))[head]
            placed = place_entries(
                entries,
                parent_id=head,
                parent_depth=depth,
                message_count=info.message_count if head is not None else 0,
                max_messages=info.max_messages,
                parent_checksum=checksum,
            )
            if not placed:
                return info, []
            StoredEntry.objects.using(self.using).bulk_create(
                entry_row(row, e, new.data_json) for e, new in zip(placed, entries, strict=True)
            )
            last = placed[-1]
            info = self._save(row, now, expires_at, head=last.id, message_count=last.message_index)
            return info, [
                dataclasses.replace(e, data=load_json_object(new.data_json))
                for e, new in zip(placed, entries, strict=True)
            ]

    def read_path(
        self,
        session_id: str,
        *,
        now: datetime,
        before: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
        with_data: bool = True,
    ) -> tuple[SessionInfo, list[Entry]]:
        with self._guard():
            row, info = self._live(session_id, now)
            start = info.head
            if before is not None:
                found = self._entries(row).filter(entry_id=before).values_list("parent_id")
                if not found:
                    raise InvalidInput("unknown entry id for this session")
                start = found[0][0]
            if start is None or limit == 0:
                return info, []
            return info, self._path(row, start, limit=limit, kind=kind, with_data=with_data)

    def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        with self._guard():
            found = (
                StoredEntry.objects.using(self.using)
                .select_related("session")
                .filter(session__session_id=session_id, entry_id=entry_id)
                .first()
            )
            if found is None:
                self._live(session_id, now)
                raise InvalidInput("unknown entry id for this session")
            if is_expired(info_of(found.session), now):
                raise SessionNotFound()
            return entry_of(found)

    def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._guard(atomic=True):
            row, info = self._live(session_id, now, lock=True)
            check_revision(info.revision, expected_revision)
            count = 0
            if entry_id is not None:
                found = self._entries(row).filter(entry_id=entry_id).values_list("message_index")
                if not found:
                    raise InvalidInput("unknown entry id for this session")
                count = found[0][0]
            return self._save(row, now, expires_at, head=entry_id, message_count=count)

    def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        with self._guard(atomic=True):
            row, _ = self._live(checkpoint.session_id, now, lock=True)
            if (
                checkpoint.entry_id is not None
                and not self._entries(row).filter(entry_id=checkpoint.entry_id).exists()
            ):
                raise InvalidInput("unknown entry id for this session")
            checkpoint_row(row, checkpoint).save(using=self.using, force_insert=True)
            return self._save(row, now, expires_at, last_checkpoint_at=now)

    def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        with self._guard():
            row, _ = self._live(session_id, now)
            found = (
                StoredCheckpoint.objects.using(self.using)
                .filter(session=row, checkpoint_id=checkpoint_id)
                .first()
            )
            if found is None:
                raise CheckpointNotFound("unknown checkpoint for this session")
            path: list[Entry] = []
            if with_path and found.entry_id is not None:
                path = self._path(row, found.entry_id)
            return checkpoint_of(found, session_id), path

    def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        with self._guard():
            row, _ = self._live(session_id, now)
            return self._checkpoints(row, session_id)

    def list_leaves(self, session_id: str, *, now: datetime) -> tuple[SessionInfo, list[Entry]]:
        with self._guard():
            row, info = self._live(session_id, now)
            return info, [entry_of(r) for r in leaves_query(self.using, row)]

    def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        with self._guard(atomic=True):
            row, info = self._live(session_id, now, lock=True)
            check_revision(info.revision, expected_revision)
            merged = canonical_json({**info.metadata, **metadata})
            return self._save(row, now, expires_at, metadata=merged)

    def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        with self._guard(atomic=True):
            row, info = self._live(session_id, now, lock=True)
            taken = self._sessions().select_for_update().filter(session_id=new_id).first()
            if taken is not None:
                if not is_expired(info_of(taken), now):
                    raise ConflictError("a session with this id already exists")
                taken.delete()
            owner = info.user_id if user_id is UNCHECKED else user_id
            return self._save(row, now, expires_at, session_id=new_id, user_id=owner)

    def prune_expired(self, *, now: datetime, batch: int) -> int:
        with self._guard(atomic=True):
            doomed = list(
                self._sessions().filter(expires_at__lte=now).values_list("pk", flat=True)[:batch]
            )
            if not doomed:
                return 0
            _, deleted = self._sessions().filter(pk__in=doomed).delete()
            return deleted.get(StoredSession._meta.label, 0)

    def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        with self._guard():
            row, info = self._live(session_id, now)
            entries = sorted((entry_of(r) for r in self._entries(row)), key=_by_depth)
            checkpoints = self._checkpoints(row, session_id)
            return SessionExport(info, tuple(entries), tuple(checkpoints))

    def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        with self._guard(atomic=True):
            if expected_revision is not None and not self.delete_session(
                export.session.id, expected_revision=expected_revision
            ):
                raise SessionNotFound()
            row = self._new_row(export.session)
            StoredEntry.objects.using(self.using).bulk_create(
                entry_row(row, e, canonical_json(dict(e.data)))
                for e in with_checksums(export.entries)
            )
            StoredCheckpoint.objects.using(self.using).bulk_create(
                checkpoint_row(row, c) for c in export.checkpoints
            )

    def close(self) -> None:
        """Stop serving calls. Django owns the connections, so none is closed here."""
        self._closed = True


def _by_depth(entry: Entry) -> tuple[int, str]:
    return (entry.depth, entry.id)


class AsyncDjangoStore(SyncToAsyncStore):
    """The async face of :class:`DjangoStore` (each call in ``sync_to_async``)."""

    sync: DjangoStore

    def __init__(self, using: str = DEFAULT_DB_ALIAS, *, sync: DjangoStore | None = None) -> None:
        super().__init__(sync if sync is not None else DjangoStore(using))

    @classmethod
    def from_url(cls, url: str) -> AsyncDjangoStore:
        """``django://`` (the default database) or ``django://<alias>``."""
        return cls(sync=DjangoStore.from_url(url))
