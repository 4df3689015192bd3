"""Whether a pooled PostgreSQL connection is known dead, without a round trip.

A pool keeps idle connections; when their backends die (server restart,
``pg_terminate_backend``, a proxy's idle cut) the pool does not notice, and
the next statement sent on one fails. The pool's own check
(``check=ConnectionPool.check_connection``) finds them by sending an empty
query: one round trip more on every checkout, which would double the cost of
every store call (the budget is one). A dying backend has already told the
client: it sent a FATAL message and closes the socket, so the socket is
readable. An idle connection is sent nothing unasked in normal use (the
store never LISTENs; a server parameter report or notice while idle is rare),
so :func:`dropped` calls a connection whose socket is readable, or closed,
unusable -- a ``poll`` with no timeout, about a microsecond -- and the caller
closes it and takes another. At worst a live connection is replaced.

Reading the FATAL message is not enough to see the close: the socket's end
may arrive a moment later, and until then libpq still reports the connection
as good. Hence readable, not "libpq says closed", is the rule.

Nothing is sent before the verdict, so discarding a connection and taking
another can never run a statement twice. A backend killed between this check
and the statement still fails that call (no check can close that window);
the caller reports it as ``StoreUnavailable``.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the stores name the extra when psycopg is missing
    from psycopg import AsyncConnection, Connection

__all__ = ["dropped"]


def dropped(conn: Connection[Any] | AsyncConnection[Any]) -> bool:
    """True if ``conn`` (idle, just taken from a pool) should not be used."""
    if conn.closed:
        return True
    return _readable(conn.pgconn.socket)


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # select() cannot take descriptors >= 1024
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover - Windows
