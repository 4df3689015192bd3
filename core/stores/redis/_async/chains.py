"""Path checksums for entries stored without them.

Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin.

An append chains its entries' checksums from the head's, in Python (Redis's
Lua has no SHA-256). A head without one -- data an earlier release wrote, or
an append the script placed whose caller died before storing theirs -- gets
it here, once: the path is read up from the head (ids and digests, no data)
until an entry that has one, or the root, and the checksums are chained down
and stored in those entries and the row.
See ``docs/design.md``, "Store protocol".
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from agentsession._canonical import chain_steps
from agentsession._models import Entry
from agentsession.stores.redis._records import Seen, decode_page, raise_for, to_us

if TYPE_CHECKING:
    from .link import AsyncRedisLink, Call

__all__ = ["chain_head", "store_checksums"]

_FIRST_PAGE: Final = 64  # then 16 times more each read
_PER_CALL: Final = 5_000  # entries per backfill script: others run in between


async def chain_head(
    db: AsyncRedisLink, session_id: str, now: datetime
) -> tuple[Seen, dict[str, str]]:
    """The row as it is, with its head's path checksum if it has a head,
    stored first in the head's path from the head up to the first entry that
    had one; and the checksums stored so, by entry id."""
    reply = await db.read("read_path", session_id, now, ["", str(_FIRST_PAGE), "", "0"])
    joined, page, size = reply[2], decode_page(reply[3], with_data=False), _FIRST_PAGE
    if not page:  # the head went away meanwhile
        return db.keep(session_id, joined)[1], {}
    tip = page[-1]
    missing: list[Entry] = []  # newest first
    base: str | None = None
    while True:
        for entry in reversed(page):
            if entry.checksum is not None:
                base = entry.checksum
                break
            missing.append(entry)
        if base is not None or len(page) < size:  # found one, or reached the root
            break
        size *= 16
        extra = [page[0].id, str(size), "", "0"]
        page = decode_page((await db.read("read_path", session_id, now, extra))[3], False)
    missing.reverse()
    sums = chain_steps([e.digest for e in missing], base)
    pairs = [x for e, s in zip(missing, sums, strict=True) for x in (e.id, s)]
    if not missing:  # the head has one; only the row lacked it
        pairs = [tip.id, tip.checksum or ""]
    row = await store_checksums(db, session_id, now, pairs)
    return db.keep(session_id, row)[1], dict(zip(pairs[::2], pairs[1::2], strict=True))


async def store_checksums(
    db: AsyncRedisLink, session_id: str, now: datetime, pairs: list[str]
) -> str:
    """Store path checksums (``pairs``: entry id, checksum, root first) in
    entries stored without them, and the last one's in the row if that is its
    head. Returns the row (NUL-joined) as it is then."""
    args = [session_id, to_us(now), "", "", "", pairs[-2]]
    keys = db.keys.session(session_id)
    step = 2 * _PER_CALL
    calls: list[Call] = [
        ("backfill", keys, [*args, *pairs[i : i + step]]) for i in range(0, len(pairs), step)
    ]
    answers = await db.pipeline(calls)
    for answer in answers:
        if answer[0] != "ok":
            raise_for(answer)
    return str(answers[-1][2])
