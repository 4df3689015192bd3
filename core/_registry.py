"""Store URLs: a registry of schemes, and ``open_store`` / ``open_async_store``.

Built-in schemes are registered by dotted path so that no driver is imported
until a URL of that scheme is opened. Third parties add theirs with
:func:`register_store`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ._exceptions import InvalidInput

if TYPE_CHECKING:
    from ._async.protocol import AsyncStore
    from ._sync.protocol import Store

__all__ = ["default_store_url", "open_async_store", "open_store", "register_store", "url_switch"]

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def url_switch(value: str, option: str) -> bool:
    """A store URL's on/off option (``true``/``false``, ``on``/``off``,
    ``yes``/``no``, ``1``/``0``); anything else is ``InvalidInput``."""
    if value.lower() in _ON:
        return True
    if value.lower() in _OFF:
        return False
    raise InvalidInput(f"{option} must be true or false (on or off)")


Factory = Callable[[str], Any]

# scheme -> (sync factory, async factory); a str is "module:Class" with from_url().
_REGISTRY: dict[str, tuple[Factory | str, Factory | str]] = {}


def register_store(scheme: str, sync: Factory | str, async_: Factory | str) -> None:
    """Make ``open_store``/``open_async_store`` understand ``scheme://`` URLs.

    Args:
        scheme: the URL scheme, lower case.
        sync: a callable taking the URL and returning a sync store, or
            ``"package.module:Class"`` whose ``Class.from_url(url)`` does.
        async_: the same for the async store.
    """
    _REGISTRY[scheme.lower()] = (sync, async_)


def _builtin(cls: str) -> tuple[str, str]:
    return (f"agentsession.stores:{cls}", f"agentsession.stores:Async{cls}")


for _scheme, _cls in (
    ("memory", "MemoryStore"),
    ("file", "FileStore"),
    ("sqlite", "SQLiteStore"),
    ("redis", "RedisStore"),
    ("rediss", "RedisStore"),
    ("redis+cluster", "RedisStore"),
    ("rediss+cluster", "RedisStore"),
    ("unix", "RedisStore"),  # unix:///path/to/redis.sock?db=0
    ("postgresql", "PostgresStore"),
    ("postgres", "PostgresStore"),
):
    register_store(_scheme, *_builtin(_cls))


def default_store_url() -> str:
    """``$AGENTSESSION_STORE_URL``, else SQLite at ``$AGENTSESSION_DIR/sessions.db``
    (``~/.agentsession`` by default)."""
    url = os.environ.get("AGENTSESSION_STORE_URL")
    if url:
        return url
    base = Path(os.environ.get("AGENTSESSION_DIR") or Path.home() / ".agentsession")
    # Percent-encoded: a directory named "a#1" or "q?x" is a path, not a fragment or query.
    return "sqlite:///" + quote(str((base / "sessions.db").absolute()))


def _resolve(url: str | None, side: int) -> Any:
    if url is None:
        url = default_store_url()
    if not isinstance(url, str):
        raise InvalidInput("a store URL must be a string")
    scheme = urlsplit(url).scheme.lower()
    try:
        factory = _REGISTRY[scheme][side]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidInput(f"unknown store URL scheme {scheme!r}; known: {known}") from None
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name).from_url
    return factory(url)


def open_store(url: str | None = None) -> Store:
    """Open a sync store from a URL (connections open lazily; no I/O here).

    ``memory://``, ``file:///abs/dir``, ``sqlite:///rel.db``, ``sqlite:////abs.db``,
    ``redis://...`` (also ``rediss://``, ``unix://``, ``redis+cluster://``),
    ``postgresql://...``; ``None`` gives :func:`default_store_url`.
    """
    store: Store = _resolve(url, 0)
    return store


def open_async_store(url: str | None = None) -> AsyncStore:
    """The async twin of :func:`open_store` (a plain call: no ``await``)."""
    store: AsyncStore = _resolve(url, 1)
    return store
