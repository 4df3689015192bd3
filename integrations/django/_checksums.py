"""Filling in the path checksums of entry rows written without one.

Rows written before migration 0002 added the ``checksum`` column, or by a
process of that earlier release still running after it (a rolling deploy),
have none. Migration 0003 fills in every row's; the store's append fills in
those on its head's path when the head has none. Both call
:func:`fill_in_checksums` (``docs/design.md``, "Store protocol").
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import QuerySet

from agentsession.store import with_checksums

from ._queries import entry_of

__all__ = ["BATCH", "fill_in_checksums"]

#: What :func:`~._queries.entry_of` reads of a row without its data, and the key.
FIELDS = (
    "pk",
    "entry_id",
    "parent_id",
    "kind",
    "created_at",
    "depth",
    "message_index",
    "digest",
    "checksum",
)
#: Rows written by one ``UPDATE`` (900 parameters: SQLite allowed 999 before 3.32).
BATCH = 300


def fill_in_checksums(rows: QuerySet[Any]) -> dict[str, str]:
    """Give each row of ``rows`` that has no checksum its own, computed from
    the digests; return every row's checksum by entry id.

    ``rows``: entries of one session that hold each one's parent (a whole
    tree, or a path from its root), of the store's model or of a migration's
    historical one (``FIELDS`` are all the model of migration 0003 must have).
    """
    found = list(rows.values_list(*FIELDS, named=True))  # cheaper than model instances
    entries = with_checksums([entry_of(r, with_data=False) for r in found])
    sums = {e.id: e.checksum for e in entries if e.checksum is not None}
    missing = [(r.pk, sums[r.entry_id]) for r in found if r.checksum is None]
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    meta = rows.model._meta
    table, key, column = quote(meta.db_table), quote(meta.pk.column), quote("checksum")
    with connection.cursor() as cursor:
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            # bulk_update's statement, built here: bulk_update takes 5x longer.
            cases = " ".join(["WHEN %s THEN %s"] * len(batch))
            keys = ", ".join(["%s"] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET {column} = CASE {key} {cases} END WHERE {key} IN ({keys})",
                [*(v for pair in batch for v in pair), *(pk for pk, _ in batch)],
            )
    return sums
