"""A PostgreSQL store URL: the store's own parameters and libpq's connection
string, refused with ``InvalidInput`` when libpq could not read it."""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from agentsession._exceptions import InvalidInput

__all__ = ["OWN_PARAMETERS", "split_url"]

#: Query parameters the store reads itself; every other one is libpq's.
OWN_PARAMETERS: Final = ("schema", "search_language")


def split_url(url: str) -> tuple[str, dict[str, str], str]:
    """``(conninfo, own, options)``: the ``postgresql://`` connection string
    for libpq, the store's own parameters, and the ``options`` it holds.

    libpq's parameters pass as they were written: decoded and encoded again,
    "%20" would come back as "+", which libpq keeps as a "+".

    Raises:
        InvalidInput: a parameter libpq does not know (named), or a URL it
            cannot read (not echoed: it may hold a password).
    """
    from psycopg import ProgrammingError, pq
    from psycopg.conninfo import conninfo_to_dict

    parts = urlsplit(url)
    own: dict[str, str] = {}
    rest: list[str] = []
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        if unquote_plus(key) in OWN_PARAMETERS:
            own[unquote_plus(key)] = unquote_plus(value)
        else:
            rest.append(pair)
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query="&".join(rest)))
    try:
        options = conninfo_to_dict(conninfo).get("options") or ""
    except ProgrammingError:
        known = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
        names = sorted({unquote_plus(p.partition("=")[0]) for p in rest} - known)
        if names:
            raise InvalidInput(
                f"unknown PostgreSQL URL parameter(s): {', '.join(map(repr, names))}"
            ) from None
        raise InvalidInput("the PostgreSQL URL is malformed: libpq cannot read it") from None
    return conninfo, own, str(options)
