"""Copy sessions from one store to another, verified, resumable, never overwriting.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

:func:`migrate` streams the source's listing a page at a time (newest
``updated_at`` first) and moves each session whole through the existing
``export_session`` / ``import_session``: tree, checkpoints, state, expiry
and owner. The import checks the export (every digest and checksum) before
the destination is touched; the copy is then exported again from the
destination and compared with the source's. A session already on the
destination is left alone: counted as skipped when identical, reported as a
conflict when not. So a re-run after an interruption copies only what is
missing. See ``docs/design.md``, "Migration".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .._exceptions import AgentSessionError, ConflictError, SessionNotFound
from .._models import UNCHECKED, MigrationReport, SessionExport, Unchecked, same_export
from .manager import AsyncSessionManager
from .protocol import AsyncStore

__all__ = ["migrate", "place_export"]

_PAGE = 500


async def migrate(
    source: AsyncSessionManager | AsyncStore | str,
    destination: AsyncSessionManager | AsyncStore | str,
    *,
    agent: str | None = None,
    user_id: str | Unchecked | None = UNCHECKED,
    updated_since: datetime | None = None,
    progress: Callable[[MigrationReport], None] | None = None,
    page: int = _PAGE,
) -> MigrationReport:
    """Copy the live sessions of ``source`` that match the filters to ``destination``.

    Args:
        source: a manager, a store or a store URL (a manager made here is
            closed at the end; one passed in is not).
        destination: the same, where the sessions go.
        agent: only the sessions of this agent (``None``: every agent).
        user_id: only those of this owner (``UNCHECKED``: every owner).
        updated_since: only sessions written at or after this moment.
        progress: called with the report so far after each session.
        page: sessions listed per call to the source.

    Returns:
        The counts: copied, skipped (already identical there), the ids in
        conflict (a different session under that id there: not touched) and
        the ids that failed (the error's text: a damaged source session, a
        copy that did not read back identical).
    """
    source_mgr, close_source = _manager(source)
    destination_mgr, close_destination = _manager(destination)
    report = MigrationReport()
    try:
        offset = 0
        while True:
            rows = await source_mgr.list(agent, user_id=user_id, limit=page, offset=offset)
            offset += len(rows)
            for info in rows:
                if updated_since is not None and info.updated_at < updated_since:
                    return report  # newest first: the rest are older
                await _one(source_mgr, destination_mgr, info.id, report)
                if progress is not None:
                    progress(report)
            if len(rows) < page:
                return report
    finally:
        if close_source:
            await source_mgr.close()
        if close_destination:
            await destination_mgr.close()


def _manager(
    given: AsyncSessionManager | AsyncStore | str,
) -> tuple[AsyncSessionManager, bool]:
    if isinstance(given, AsyncSessionManager):
        return given, False
    return AsyncSessionManager(given), True


async def _one(
    source: AsyncSessionManager,
    destination: AsyncSessionManager,
    session_id: str,
    report: MigrationReport,
) -> None:
    try:
        export = await source.export_session(session_id)
    except SessionNotFound:
        return  # deleted or expired since it was listed
    except AgentSessionError as exc:
        report.failed[session_id] = f"{type(exc).__name__}: {exc}"
        return
    await place_export(destination, export, report)


async def place_export(
    destination: AsyncSessionManager, export: SessionExport, report: MigrationReport
) -> None:
    """Import ``export`` unless ``destination`` holds its id, and count it in
    ``report``: copied (read back identical), skipped (identical already
    there), a conflict (a different session there) or failed (with why: a
    session there that cannot be read, a wrong key say, is never touched).
    ``agentsession import`` places each session of a file this way."""
    session_id = export.session.id
    try:
        there = await _export_or_none(destination, session_id)
    except AgentSessionError as exc:  # there, but unreadable (a wrong key): never touched
        report.failed[session_id] = f"{type(exc).__name__}: {exc}"
        return
    if there is None:
        try:
            await destination.import_session(export)
        except ConflictError:  # written there meanwhile: compare with that
            there = await _export_or_none(destination, session_id)
        except AgentSessionError as exc:
            report.failed[session_id] = f"{type(exc).__name__}: {exc}"
            return
        else:
            copy = await _export_or_none(destination, session_id)
            if copy is not None and same_export(copy, export):
                report.copied += 1
            else:
                report.failed[session_id] = "the copy does not read back identical"
            return
    if there is not None and same_export(there, export):
        report.skipped += 1
    else:
        report.conflicts.append(session_id)


async def _export_or_none(manager: AsyncSessionManager, session_id: str) -> SessionExport | None:
    try:
        return await manager.export_session(session_id)
    except SessionNotFound:
        return None
