"""Search by scanning: the whole of ``search`` for a store without an engine.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, cast

from .._exceptions import SessionNotFound
from .._models import MESSAGE, SearchHit, Unchecked
from .._search import HitCollector, SearchQuery, in_scope
from .protocol import AsyncStore

__all__ = ["AsyncScanSearch", "scan_search"]

#: Sessions a scan asks the store for at a time.
_PAGE = 100


async def scan_search(
    store: AsyncStore,
    query: SearchQuery,
    *,
    user_id: str | Unchecked | None,
    agent: str | None,
    limit: int,
    now: datetime,
    max_sessions: int | None = None,
) -> list[SearchHit]:
    """Search ``store`` by reading the filter's sessions, newest first.

    ``max_sessions``: look at that many sessions at most (the newest), so a
    scan's cost has a bound; ``None``: all of them. A session the listing
    found but that has since expired, gone or changed owner is skipped.
    """
    found = HitCollector(query, limit)
    seen = 0
    while max_sessions is None or seen < max_sessions:
        page = _PAGE if max_sessions is None else min(_PAGE, max_sessions - seen)
        rows = await store.list_sessions(
            agent=agent, user_id=user_id, limit=page, offset=seen, now=now
        )
        for row in rows:
            try:
                export = await store.export_session(row.id, now=now)
            except SessionNotFound:
                continue
            if not in_scope(export.session, user_id, agent):
                continue  # claimed by someone else since the listing
            for entry in export.entries:
                if entry.kind == MESSAGE:
                    found.offer(row.id, entry.id, entry.digest, entry.created_at, entry.data)
        seen += len(rows)
        if len(rows) < page:
            break
    return found.hits()


class AsyncScanSearch:
    """``search`` by scanning, for a store without a search engine to mix in.

    ``scan_sessions``: the most sessions one search reads (the newest the
    filters allow); ``None`` reads them all.
    """

    scan_sessions: ClassVar[int | None] = None

    async def search(
        self,
        query: SearchQuery,
        *,
        user_id: str | Unchecked | None,
        agent: str | None,
        limit: int,
        now: datetime,
    ) -> list[SearchHit]:
        """A scan of the sessions the filters allow (``docs/design.md``, "Search")."""
        return await scan_search(
            cast(AsyncStore, self),
            query,
            user_id=user_id,
            agent=agent,
            limit=limit,
            now=now,
            max_sessions=self.scan_sessions,
        )
