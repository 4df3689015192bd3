"""System checks (``manage.py check``, ``check --deploy``), registered in ``ready()``.

=====================  ==========================================================
``agentsession.W001``  no ``SECRET_KEY``: cookies are off, only the header works
``agentsession.W002``  (deploy) the session cookie is not ``Secure``
``agentsession.E003``  ``AGENTSESSION["STORE"]`` cannot be opened
``agentsession.E004``  ``AGENTSESSION`` is not a valid settings dict
``agentsession.W005``  ORM store on SQLite without ``transaction_mode: IMMEDIATE``
``agentsession.E006``  ORM store with ``USE_TZ = False``
``agentsession.W007``  the middleware runs before ``AuthenticationMiddleware``
``agentsession.W008``  error reports would show session ids (reporter filter)
=====================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from agentsession import AgentSessionError, open_store

from .conf import build_web_settings, read_settings, secret_keys, store_url

__all__ = ["register"]

MIDDLEWARE = "agentsession.integrations.django.AgentSessionMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def _conf() -> dict[str, Any] | None:
    try:
        return read_settings()
    except ImproperlyConfigured:
        return None


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    """E004: the dict itself; W001: a key to sign cookies with."""
    try:
        build_web_settings(read_settings())
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="agentsession.E004", hint="See agentsession's docs.")]
    if secret_keys():
        return []
    return [
        checks.Warning(
            "SECRET_KEY is not set: agentsession cookies are off, so sessions "
            "are only found through the X-Session-ID header.",
            hint="Set SECRET_KEY (and list old keys in SECRET_KEY_FALLBACKS).",
            id="agentsession.W001",
        )
    ]


def check_store(**kwargs: Any) -> list[checks.CheckMessage]:
    """E003: the store URL opens (no I/O: stores connect lazily); E006/W005 for
    the ORM store's database."""
    conf = _conf()
    if conf is None:
        return []
    store = conf["STORE"]
    if store is not None and not isinstance(store, str):
        return []
    url = store_url(store)
    try:
        open_store(url).close()  # type: ignore[arg-type]
    except (AgentSessionError, ImportError, ValueError) as exc:
        return [
            checks.Error(
                f"AGENTSESSION['STORE'] cannot be opened: {exc}",
                hint="Use a URL such as sqlite:///sessions.db, redis://..., "
                "postgresql://..., or 'django' for the ORM store.",
                id="agentsession.E003",
            )
        ]
    if isinstance(url, str) and url.startswith("django:"):
        return _check_orm_database(url)
    return []


def _check_orm_database(url: str) -> list[checks.CheckMessage]:
    from .store import DjangoStore

    alias = DjangoStore.from_url(url).using
    database = settings.DATABASES.get(alias)
    if database is None:
        return [
            checks.Error(
                f"AGENTSESSION['STORE'] names the database {alias!r}, which is not in DATABASES.",
                id="agentsession.E003",
            )
        ]
    found: list[checks.CheckMessage] = []
    if not settings.USE_TZ:
        found.append(
            checks.Error(
                "The ORM store keeps aware UTC times and needs USE_TZ = True.",
                id="agentsession.E006",
            )
        )
    options = database.get("OPTIONS", {})
    if database["ENGINE"].endswith("sqlite3") and options.get("transaction_mode") != "IMMEDIATE":
        found.append(
            checks.Warning(
                "The ORM store on SQLite: concurrent writes may fail with 'database is locked'.",
                hint=f'Add "OPTIONS": {{"transaction_mode": "IMMEDIATE"}} to DATABASES[{alias!r}].',
                id="agentsession.W005",
            )
        )
    return found


def check_middleware_order(**kwargs: Any) -> list[checks.CheckMessage]:
    """W007: the middleware must see ``request.user``."""
    names = list(settings.MIDDLEWARE)
    if MIDDLEWARE not in names or AUTH_MIDDLEWARE not in names:
        return []
    if names.index(MIDDLEWARE) > names.index(AUTH_MIDDLEWARE):
        return []
    return [
        checks.Warning(
            "AgentSessionMiddleware runs before AuthenticationMiddleware, so "
            "every request looks anonymous to it.",
            hint="Move it after AuthenticationMiddleware in MIDDLEWARE.",
            id="agentsession.W007",
        )
    ]


def check_secure_cookie(**kwargs: Any) -> list[checks.CheckMessage]:
    """W002 (``--deploy``): the cookie carries a bearer token; send it over HTTPS only."""
    conf = _conf()
    if conf is None or not conf["ENABLED"] or conf["COOKIE_SECURE"] or not secret_keys():
        return []
    return [
        checks.Warning(
            "The agentsession cookie is not Secure: browsers will send it over plain HTTP.",
            hint="Set AGENTSESSION['COOKIE_SECURE'] = True.",
            id="agentsession.W002",
        )
    ]


def check_reporter_filter(**kwargs: Any) -> list[checks.CheckMessage]:
    """W008: the error reporter's filter hides the session header and cookie."""
    from django.views.debug import get_default_exception_reporter_filter

    from .debug import SafeExceptionReporterFilter

    if isinstance(get_default_exception_reporter_filter(), SafeExceptionReporterFilter):
        return []
    return [
        checks.Warning(
            "Error reports (500 mails, DEBUG pages) would show the X-Session-ID "
            "header and the agentsession cookie, which carry session ids.",
            hint='Set DEFAULT_EXCEPTION_REPORTER_FILTER = "agentsession.integrations.'
            'django.debug.SafeExceptionReporterFilter" (or a subclass of it).',
            id="agentsession.W008",
        )
    ]


def register() -> None:
    """Register every check once (``ready()`` may run more than once in tests)."""
    for check in (check_settings, check_store, check_middleware_order, check_reporter_filter):
        checks.register(check, "agentsession")
    checks.register(check_secure_cookie, "agentsession", deploy=True)
