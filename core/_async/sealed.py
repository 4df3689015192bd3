"""A store wrapper that encrypts and/or compresses every record of any store.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

:class:`AsyncSealedStore` is one more implementation of the store protocol:
each call is its inner store's same call, with the records sealed on the way
in and opened on the way out (``agentsession._sealing`` does the records, no
I/O; this module only orders the calls). Before any call that writes to an
existing session it proves the key on that session's row, so a wrong key
raises before anything is stored.
See ``docs/design.md``, "Encryption and compression".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .._exceptions import (
    AgentSessionError,
    ConflictError,
    InvalidInput,
    SearchUnavailable,
    SessionNotFound,
)
from .._models import (
    UNCHECKED,
    Checkpoint,
    Entry,
    NewEntry,
    SearchHit,
    SessionExport,
    SessionInfo,
    Unchecked,
    copy_checkpoint,
    evolve,
    json_copy,
)
from .._registry import open_async_store
from .._sealing import Codec, Compression, KeyRing, RekeyReport, Sealer
from .._search import SCAN_SESSIONS, SearchQuery
from .protocol import AsyncStore
from .scan import scan_search

__all__ = ["AsyncSealedStore", "rekey"]

#: A moment before any session expires: the key check of a call that takes no
#: clock (``delete_session``) reads the row whatever its expiry.
_DAWN = datetime(1970, 1, 1, tzinfo=UTC)
#: Sessions whose row this wrapper opened, remembered so that an append after
#: a read costs no second round trip for the key check.
_PROVEN = 4096
_TRIES = 8


class AsyncSealedStore(AsyncStore):
    """Any store, with its records encrypted (AES-256-GCM) and/or compressed.

    Args:
        store: the store to wrap, or its URL (then opened here).
        keys: a :class:`~agentsession.sealed.KeyRing`: the newest key seals,
            any key opens. ``None``: no encryption.
        compression: ``"zlib"``, ``"zstd"``, ``"auto"`` (zstd when
            ``zstandard`` is installed) or ``None``.
        threshold: records of fewer bytes are not compressed.
        read_plaintext: with keys, read records stored in clear (written
            before encryption was turned on; a rekey seals them). ``False``
            refuses them with ``DecryptionError``.

    Entry ids, kinds, tree links, times, counts, the agent and the owner stay
    in clear, so listing, paging and the tree work unchanged. Digests and
    checksums are those of the stored (sealed) records.
    """

    def __init__(
        self,
        store: AsyncStore | str,
        *,
        keys: KeyRing | None = None,
        compression: Compression | None = None,
        threshold: int = 512,
        read_plaintext: bool = True,
    ) -> None:
        if keys is None and compression is None:
            raise InvalidInput("a sealed store needs keys, compression or both")
        self._sealer = Sealer(
            Codec(
                keys,
                compression=compression,
                threshold=threshold,
                read_plaintext=read_plaintext,
            )
        )
        self._inner = open_async_store(store) if isinstance(store, str) else store
        self._proven: OrderedDict[str, None] = OrderedDict()

    @property
    def inner(self) -> AsyncStore:
        """The wrapped store (records as stored: to erase sessions whose key is lost)."""
        return self._inner

    @property
    def keys(self) -> KeyRing | None:
        """The key ring (``None``: compression only)."""
        return self._sealer.codec.keys

    # -- the key check -----------------------------------------------------------------

    def _opened(self, info: SessionInfo) -> SessionInfo:
        opened = self._sealer.open_info(info)
        self._proven[info.id] = None
        self._proven.move_to_end(info.id)
        if len(self._proven) > _PROVEN:
            self._proven.popitem(last=False)
        return opened

    async def _prove(self, session_id: str, now: datetime) -> SessionInfo | None:
        """Open the session's row unless this wrapper already did: the key
        opens this session, or ``DecryptionError`` before anything is written."""
        if session_id in self._proven:
            return None
        return self._opened(await self._inner.get_session(session_id, now=now))

    # -- sessions ----------------------------------------------------------------------

    async def create_session(self, info: SessionInfo) -> None:
        await self._inner.create_session(self._sealer.seal_info(info))
        self._proven[info.id] = None

    async def get_session(self, session_id: str, *, now: datetime) -> SessionInfo:
        return self._opened(await self._inner.get_session(session_id, now=now))

    async def list_sessions(
        self,
        *,
        agent: str | None,
        user_id: str | Unchecked | None,
        limit: int,
        offset: int,
        now: datetime,
    ) -> list[SessionInfo]:
        rows = await self._inner.list_sessions(
            agent=agent, user_id=user_id, limit=limit, offset=offset, now=now
        )
        return [self._sealer.open_info(row) for row in rows]

    async def search(
        self,
        query: SearchQuery,
        *,
        user_id: str | Unchecked | None,
        agent: str | None,
        limit: int,
        now: datetime,
    ) -> list[SearchHit]:
        """Encrypted: ``SearchUnavailable`` (no index holds the text, and a scan
        would decrypt every session). Compressed only: a scan of the newest
        sessions the filters allow (``docs/design.md``, "Search")."""
        if self.keys is not None:
            raise SearchUnavailable(
                "an encrypted store cannot be searched: its messages are never indexed"
            )
        return await scan_search(
            self,
            query,
            user_id=user_id,
            agent=agent,
            limit=limit,
            now=now,
            max_sessions=SCAN_SESSIONS,
        )

    async def delete_session(
        self, session_id: str, *, expected_revision: int | None = None
    ) -> bool:
        # Never erase what cannot be opened: the row is opened first, and the
        # erase is made conditional on the revision that was opened.
        for _ in range(_TRIES):
            try:
                row = await self._inner.get_session(session_id, now=_DAWN)
            except SessionNotFound:
                return False
            self._sealer.open_info(row)
            if expected_revision is not None and row.revision != expected_revision:
                raise ConflictError("the session changed since it was read")
            try:
                erased = await self._inner.delete_session(
                    session_id, expected_revision=row.revision
                )
            except ConflictError:
                if expected_revision is not None:
                    raise
                continue
            self._proven.pop(session_id, None)
            return erased
        raise ConflictError("the session kept changing while being deleted")

    async def update_session(
        self,
        session_id: str,
        *,
        metadata: Mapping[str, Any],
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        # The stored metadata is one sealed record, so the merge is done here,
        # and written only if the row is still the one read.
        patch = json_copy(dict(metadata))
        for _ in range(_TRIES):
            row = self._opened(await self._inner.get_session(session_id, now=now))
            if expected_revision is not None and row.revision != expected_revision:
                raise ConflictError("the session changed since it was read")
            merged = {**row.metadata, **patch}
            try:
                stored = await self._inner.update_session(
                    session_id,
                    metadata=self._sealer.seal_metadata(session_id, merged),
                    now=now,
                    expires_at=expires_at,
                    expected_revision=row.revision,
                )
            except ConflictError:
                if expected_revision is not None:
                    raise
                continue
            return evolve(stored, metadata=merged)
        raise ConflictError("the session kept changing while its metadata was updated")

    async def rotate_id(
        self,
        session_id: str,
        new_id: str,
        *,
        user_id: str | Unchecked | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> SessionInfo:
        # Every record is bound to its session id, so the session is sealed
        # again under the new id: written there whole, then the old id erased
        # if it did not change meanwhile (else the copy goes: ConflictError).
        stored = await self._inner.export_session(session_id, now=now)
        plain = self._sealer.open_export(stored)
        info = plain.session
        moved = evolve(
            info,
            id=new_id,
            user_id=info.user_id if user_id is UNCHECKED else user_id,
            revision=info.revision + 1,
            updated_at=now,
            expires_at=expires_at,
        )
        points = tuple(copy_checkpoint(p, session_id=new_id) for p in plain.checkpoints)
        await self._inner.import_session(
            self._sealer.seal_export(SessionExport(moved, plain.entries, points))
        )
        try:
            erased = await self._inner.delete_session(
                session_id, expected_revision=stored.session.revision
            )
        except ConflictError:
            await self._inner.delete_session(new_id)
            raise
        if not erased:
            await self._inner.delete_session(new_id)
            raise SessionNotFound()
        self._proven.pop(session_id, None)
        self._proven[new_id] = None
        return moved

    async def prune_expired(self, *, now: datetime, batch: int) -> int:
        # Expiry is in clear: an expired session is gone for every call,
        # whatever its key (docs/design.md, "Encryption and compression").
        return await self._inner.prune_expired(now=now, batch=batch)

    async def export_session(self, session_id: str, *, now: datetime) -> SessionExport:
        return self._sealer.open_export(await self._inner.export_session(session_id, now=now))

    async def import_session(
        self, export: SessionExport, *, expected_revision: int | None = None
    ) -> None:
        if expected_revision is not None:
            # A replacement erases what is there: only what opens.
            self._opened(await self._inner.get_session(export.session.id, now=_DAWN))
        await self._inner.import_session(
            self._sealer.seal_export(export), expected_revision=expected_revision
        )
        self._proven[export.session.id] = None

    # -- history -----------------------------------------------------------------------

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
        await self._prove(session_id, now)
        sealer = self._sealer
        row, placed = await self._inner.append(
            session_id,
            [sealer.seal_entry(session_id, e) for e in entries],
            now=now,
            expires_at=expires_at,
            expected_head=expected_head,
            new_root=new_root,
        )
        data = {e.id: e.data for e in entries}
        return self._opened(row), [
            Entry(
                e.id,
                e.parent_id,
                e.kind,
                e.created_at,
                json_copy(dict(data[e.id])),
                e.depth,
                e.message_index,
                e.digest,
                e.checksum,
            )
            for e in placed
        ]

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
        row, path = await self._inner.read_path(
            session_id, now=now, before=before, limit=limit, kind=kind, with_data=with_data
        )
        if with_data:
            path = [self._sealer.open_entry(session_id, e) for e in path]
        return self._opened(row), path

    async def get_entry(self, session_id: str, entry_id: str, *, now: datetime) -> Entry:
        entry = await self._inner.get_entry(session_id, entry_id, now=now)
        return self._sealer.open_entry(session_id, entry)

    async def set_head(
        self,
        session_id: str,
        entry_id: str | None,
        *,
        now: datetime,
        expires_at: datetime | None,
        expected_revision: int | None = None,
    ) -> SessionInfo:
        await self._prove(session_id, now)
        if entry_id is not None:
            # The head moves only onto a record this ring opens (pop, switch,
            # restore): a session half under a lost key is left as it is.
            await self.get_entry(session_id, entry_id, now=now)
        row = await self._inner.set_head(
            session_id,
            entry_id,
            now=now,
            expires_at=expires_at,
            expected_revision=expected_revision,
        )
        return self._opened(row)

    async def list_leaves(
        self, session_id: str, *, now: datetime
    ) -> tuple[SessionInfo, list[Entry]]:
        row, leaves = await self._inner.list_leaves(session_id, now=now)
        return self._opened(row), [self._sealer.open_lazily(session_id, e) for e in leaves]

    # -- checkpoints -------------------------------------------------------------------

    async def save_checkpoint(
        self, checkpoint: Checkpoint, *, now: datetime, expires_at: datetime | None
    ) -> SessionInfo:
        await self._prove(checkpoint.session_id, now)
        row = await self._inner.save_checkpoint(
            self._sealer.seal_checkpoint(checkpoint), now=now, expires_at=expires_at
        )
        return self._opened(row)

    async def get_checkpoint(
        self, session_id: str, checkpoint_id: str, *, now: datetime, with_path: bool = False
    ) -> tuple[Checkpoint, list[Entry]]:
        point, path = await self._inner.get_checkpoint(
            session_id, checkpoint_id, now=now, with_path=with_path
        )
        # The path is read to be verified: its data stays the stored text
        # (what the digests cover) and is opened only if someone reads it.
        return self._sealer.open_checkpoint(point), [
            self._sealer.open_lazily(session_id, e) for e in path
        ]

    async def list_checkpoints(self, session_id: str, *, now: datetime) -> list[Checkpoint]:
        points = await self._inner.list_checkpoints(session_id, now=now)
        return [self._sealer.open_checkpoint(p) for p in points]

    async def reseal(self, session_id: str, *, now: datetime) -> bool:
        """Write the session again with every record under the newest key, in
        one atomic replacement at the revision read; ``False`` if it already
        was. ``ConflictError`` if it was written meanwhile (nothing changed),
        ``DecryptionError`` if a record does not open (nothing changed)."""
        if self._sealer.codec.keys is None:
            raise InvalidInput("a rekey needs keys")
        stored = await self._inner.export_session(session_id, now=now)
        if self._sealer.is_current(stored):
            return False
        plain = self._sealer.open_export(stored)
        revision = stored.session.revision
        info = evolve(plain.session, revision=revision + 1)
        await self._inner.import_session(
            self._sealer.seal_export(SessionExport(info, plain.entries, plain.checkpoints)),
            expected_revision=revision,
        )
        return True

    async def close(self) -> None:
        await self._inner.close()


async def rekey(
    store: AsyncSealedStore,
    *,
    page: int = 100,
    passes: int = 5,
    progress: Callable[[RekeyReport], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> RekeyReport:
    """Seal every live session of ``store`` again under its ring's newest key.

    On a live store, in batches: the listing is read ``page`` sessions at a
    time and each session is replaced whole and atomically, only if it was
    not written since it was read (then it is taken again by the next pass,
    up to ``passes``). A session already wholly under the newest key is only
    read, so an interrupted rekey is resumed by running it again. A session
    with a record that does not open is reported in ``failed`` and left as
    it is. Records in clear are sealed too. Then old keys may leave the ring.
    """
    now = clock or (lambda: datetime.now(UTC))
    report = RekeyReport()
    for _ in range(passes):
        report.passes += 1
        raced = 0
        offset = 0
        while True:
            rows = await store.inner.list_sessions(
                agent=None, user_id=UNCHECKED, limit=page, offset=offset, now=now()
            )
            offset += len(rows)
            for row in rows:
                try:
                    if await store.reseal(row.id, now=now()):
                        report.resealed += 1
                    elif report.passes == 1:  # later passes see the first's work
                        report.current += 1
                    report.failed.pop(row.id, None)
                except SessionNotFound:
                    pass  # erased or expired since listed
                except ConflictError:
                    raced += 1
                except AgentSessionError as exc:
                    report.failed[row.id] = f"{type(exc).__name__}: {exc}"
                if progress is not None:
                    progress(report)
            if len(rows) < page:
                break
        if not raced:
            return report
    return report
