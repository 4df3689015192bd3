"""The one settings dict, ``AGENTSESSION``, read lazily (``override_settings`` works).

Usage, options and behaviour: ``docs/web/django.md``, "Django settings".
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from agentsession import AsyncSessionManager, SessionManager

from .._offload import SyncToAsyncStore, is_sync_store, offloaded
from .._web.cookies import CookieSigner
from .._web.settings import SameSite, WebSettings

__all__ = [
    "DEFAULTS",
    "AgentSessionSettings",
    "agentsession_settings",
    "async_session_manager",
    "reload_settings",
    "session_manager",
]

DEFAULTS: Mapping[str, Any] = {
    "ENABLED": True,
    "STORE": None,
    "ASYNC_STORE": None,
    "AGENT": "default",
    "HEADER": "X-Session-ID",
    "COOKIE_NAME": "agentsession",
    "COOKIE_SALT": "agentsession.cookie",
    "COOKIE_AGE": 14 * 24 * 3600,
    "COOKIE_SECURE": False,
    "COOKIE_HTTPONLY": True,
    "COOKIE_SAMESITE": "Lax",
    "COOKIE_PATH": "/",
    "COOKIE_DOMAIN": None,
    "CLAIM_ANONYMOUS": False,
    "GET_USER_ID": None,
    "TTL": None,
    "IDLE_TIMEOUT": None,
    "MAX_MESSAGES": None,
    "AUDIT": False,
    "AUDIT_IDS": "clear",
}
#: Changing one of these rebuilds the configuration (and reopens the stores).
WATCHED = frozenset({"AGENTSESSION", "SECRET_KEY", "SECRET_KEY_FALLBACKS"})


def read_settings() -> dict[str, Any]:
    """``AGENTSESSION`` over :data:`DEFAULTS`; unknown keys are an error."""
    given = getattr(settings, "AGENTSESSION", None) or {}
    if not isinstance(given, Mapping):
        raise ImproperlyConfigured("AGENTSESSION must be a dict")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(f"unknown AGENTSESSION keys: {', '.join(unknown)}")
    return {**DEFAULTS, **given}


def secret_keys() -> list[str | bytes]:
    """``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS`` (newest first); empty if unset."""
    try:
        newest = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return []
    return [newest, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]


def store_url(value: object) -> object:
    """``"django"`` is the ORM store on the default database."""
    return "django://" if value == "django" else value


def _span(value: object, name: str) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise ImproperlyConfigured(f"AGENTSESSION[{name!r}] must be a timedelta or seconds")


def _user_getter(value: object) -> Callable[[Any], str | None] | None:
    if isinstance(value, str):
        value = import_string(value)
    if value is not None and not callable(value):
        raise ImproperlyConfigured("AGENTSESSION['GET_USER_ID'] must be a callable or its path")
    return value


def _audit_sink(value: object) -> Callable[[Any], None] | bool:
    if isinstance(value, str):
        value = import_string(value)
    if not isinstance(value, bool) and not callable(value):
        raise ImproperlyConfigured("AGENTSESSION['AUDIT'] must be a bool, a callable or its path")
    return value


def build_web_settings(conf: Mapping[str, Any]) -> WebSettings:
    """The framework-agnostic :class:`WebSettings` for a settings dict."""
    samesite = cast(SameSite, str(conf["COOKIE_SAMESITE"]).lower())
    try:
        return WebSettings(
            store=store_url(conf["STORE"]),  # type: ignore[arg-type]
            agent=conf["AGENT"],
            header=conf["HEADER"],
            cookie_name=conf["COOKIE_NAME"],
            secret_keys=tuple(secret_keys()),
            salt=conf["COOKIE_SALT"],
            max_age=conf["COOKIE_AGE"],
            secure=bool(conf["COOKIE_SECURE"]),
            httponly=bool(conf["COOKIE_HTTPONLY"]),
            samesite=samesite,
            path=conf["COOKIE_PATH"],
            domain=conf["COOKIE_DOMAIN"],
            claim_anonymous=bool(conf["CLAIM_ANONYMOUS"]),
            enabled=bool(conf["ENABLED"]),
            get_user_id=_user_getter(conf["GET_USER_ID"]),
            ttl=_span(conf["TTL"], "TTL"),
            idle_timeout=_span(conf["IDLE_TIMEOUT"], "IDLE_TIMEOUT"),
            max_messages=conf["MAX_MESSAGES"],
            audit=_audit_sink(conf["AUDIT"]),
            audit_ids=conf["AUDIT_IDS"],
        )
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"invalid AGENTSESSION setting: {exc}") from exc


class AgentSessionSettings:
    """The app's configuration, its cookie signer and its session managers,
    built on first use and rebuilt when the settings change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[WebSettings, CookieSigner, object] | None = None
        self._sync: SessionManager | None = None
        self._offloaded: AsyncSessionManager | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncSessionManager]
        self._async = weakref.WeakKeyDictionary()

    def _load(self) -> tuple[WebSettings, CookieSigner, object]:
        with self._lock:
            if self._loaded is None:
                conf = read_settings()
                web = build_web_settings(conf)
                self._loaded = (web, CookieSigner(web), conf["ASYNC_STORE"])
            return self._loaded

    @property
    def web(self) -> WebSettings:
        """The framework-agnostic settings (raises ``ImproperlyConfigured``)."""
        return self._load()[0]

    @property
    def signer(self) -> CookieSigner:
        return self._load()[1]

    def sync_manager(self) -> SessionManager:
        """The manager sync views and management commands use."""
        web = self.web
        with self._lock:
            if self._sync is None:
                self._sync = web.sync_manager()
            return self._sync

    def offloaded_manager(self) -> AsyncSessionManager:
        """The manager async views use under WSGI: the sync store through a
        thread (Django gives each such request a new event loop, and a store
        per loop would be opened and dropped on every request)."""
        sync = self.sync_manager()
        with self._lock:
            if self._offloaded is None:
                self._offloaded = offloaded(sync)
            return self._offloaded

    def async_manager(self) -> AsyncSessionManager:
        """The manager async views use under ASGI (one per event loop: async
        drivers bind their connections to the loop that opened them)."""
        web, _, async_store = self._load()
        loop = asyncio.get_running_loop()
        with self._lock:
            manager = self._async.get(loop)
            if manager is None:
                manager = self._async[loop] = _async_manager(web, async_store)
            return manager

    def close(self) -> None:
        """Close the stores this integration opened (not store objects passed in)."""
        with self._lock:
            loaded, sync, managers = self._loaded, self._sync, list(self._async.items())
            self._loaded = self._sync = self._offloaded = None
            self._async = weakref.WeakKeyDictionary()
        if loaded is None or not (loaded[0].store is None or isinstance(loaded[0].store, str)):
            return
        if sync is not None:
            sync.close()
        if loaded[2] is not None:
            return  # ASYNC_STORE is the caller's to close
        for loop, manager in managers:
            _close_on(loop, manager)


def _async_manager(web: WebSettings, async_store: object) -> AsyncSessionManager:
    store = async_store
    if store is None and is_sync_store(web.store):
        # A sync store object: async views use it through a thread.
        store = SyncToAsyncStore(web.store)  # type: ignore[arg-type]
    if store is None:
        return web.async_manager()
    return AsyncSessionManager(
        store,  # type: ignore[arg-type]
        ttl=web.ttl,
        idle_timeout=web.idle_timeout,
        max_messages=web.max_messages,
    )


def _close_on(loop: asyncio.AbstractEventLoop, manager: AsyncSessionManager) -> None:
    """Close an async manager on the loop that owns its connections."""
    if loop.is_closed():
        return  # its connections went with the loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _pending.add(task := loop.create_task(manager.close()))
        task.add_done_callback(_pending.discard)
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(manager.close(), loop)
    else:
        loop.run_until_complete(manager.close())


_pending: set[asyncio.Task[None]] = set()

#: The configuration of this process.
agentsession_settings = AgentSessionSettings()


def session_manager() -> SessionManager:
    """The app's :class:`~agentsession.SessionManager` (sync views, commands, tasks):
    list a user's sessions, create or delete one outside a request."""
    return agentsession_settings.sync_manager()


def async_session_manager() -> AsyncSessionManager:
    """The app's :class:`~agentsession.AsyncSessionManager` for the running event
    loop (async code under ASGI)."""
    return agentsession_settings.async_manager()


def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: forget what was built from the old settings."""
    if setting in WATCHED:
        agentsession_settings.close()
