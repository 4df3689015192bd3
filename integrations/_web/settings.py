"""``WebSettings``: how a web app finds its sessions (one frozen record per app)."""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from agentsession import AsyncSessionManager, SessionManager
from agentsession.config import load_config
from agentsession.store import validate_id

from .. import CookiesDisabledWarning

if TYPE_CHECKING:
    from agentsession import AsyncStore, Store

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_SALT",
    "CookiesDisabledWarning",
    "SameSite",
    "WebSettings",
    "secret_key_list",
    "warn_if_cookieless",
]

SameSite = Literal["lax", "strict", "none"]

#: Cookie lifetime (and the signature's maximum age): two weeks, like Django's.
DEFAULT_MAX_AGE = 14 * 24 * 3600
#: itsdangerous salt no other context uses, so no other signed value of the
#: app (a Flask session, a password-reset token) is ever accepted as ours.
DEFAULT_SALT = "agentsession.cookie"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: header/cookie names


#: Shortest signing key accepted, and fewest distinct characters: a key
#: like "x" or "aaaaaaaaaaaaaaaa" can be guessed offline from one cookie.
MIN_KEY_LENGTH = 16
MIN_KEY_CHARACTERS = 5


def secret_key_list(value: object) -> tuple[str | bytes, ...]:
    """A key or a list of keys, newest first, checked and made a tuple
    (empty keys dropped).

    Raises:
        TypeError: not a string, bytes, or a list/tuple of them (a dict's keys
            or an int would otherwise be taken for key material).
        ValueError: a key shorter than ``MIN_KEY_LENGTH`` characters or with
            fewer than ``MIN_KEY_CHARACTERS`` distinct ones.
    """
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        keys: tuple[object, ...] = (value,)
    elif isinstance(value, list | tuple):
        keys = tuple(value)
    else:
        raise TypeError(
            f"secret key must be a string, bytes, or a list of them (newest first), "
            f"not {type(value).__name__}"
        )
    checked: list[str | bytes] = []
    for key in keys:
        if not isinstance(key, str | bytes):
            raise TypeError(f"each secret key must be a string or bytes, not {type(key).__name__}")
        if not key:
            continue
        if len(key) < MIN_KEY_LENGTH or len(set(key)) < MIN_KEY_CHARACTERS:
            raise ValueError(
                f"a secret key needs at least {MIN_KEY_LENGTH} characters, "
                f"{MIN_KEY_CHARACTERS} of them distinct; make one with "
                'python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        checked.append(key)
    return tuple(checked)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Configuration shared by every framework integration.

    Attributes:
        store: a store URL, a store object (async for ASGI, sync for WSGI) or
            ``None`` for ``open_store()``'s default.
        agent: the agent name new sessions get; sessions of other agents are
            treated as unknown.
        header: request/response header carrying the session id.
        cookie_name: name of the signed cookie.
        secret_keys: signing keys, **newest first**: cookies are signed with
            the first and verified with all (key rotation). Empty: cookies off,
            only the header is used.
        salt: itsdangerous salt, unique to this context.
        max_age: cookie ``Max-Age`` and the oldest signature accepted, in
            seconds (``None``: a browser-session cookie, signature age unbounded).
        secure / httponly / samesite / path / domain: cookie attributes.
        claim_anonymous: a logged-in user presenting an anonymous session takes
            it over (its id is rotated); otherwise that is a 404.
        enabled: ``False`` turns the integration off without removing it.
        get_user_id: ``callable(request) -> str | None`` (async allowed where
            the framework is async) overriding the
            framework's notion of the current user (the argument is whatever
            the framework passes: an ASGI scope, a Flask/Django request).
        ttl / idle_timeout / max_messages: defaults of the sessions created.
        audit / audit_ids: the managers' audit options (``True`` for the
            ``agentsession.audit`` logger, or a callable); each request's
            events then carry its method, path and remote address.
    """

    store: str | AsyncStore | Store | None = None
    agent: str = "default"
    header: str = "X-Session-ID"
    cookie_name: str = "agentsession"
    secret_keys: tuple[str | bytes, ...] = ()
    salt: str = DEFAULT_SALT
    max_age: int | None = DEFAULT_MAX_AGE
    secure: bool = False
    httponly: bool = True
    samesite: SameSite = "lax"
    path: str = "/"
    domain: str | None = None
    claim_anonymous: bool = False
    enabled: bool = True
    get_user_id: Callable[[Any], Any] | None = field(default=None, compare=False)
    ttl: timedelta | None = None
    idle_timeout: timedelta | None = None
    max_messages: int | None = None
    audit: Callable[[Any], None] | bool = field(default=False, compare=False)
    audit_ids: Literal["clear", "hashed"] = "clear"

    def __post_init__(self) -> None:
        validate_id(self.agent, "agent name")
        if self.audit_ids not in ("clear", "hashed"):
            raise ValueError("audit_ids must be 'clear' or 'hashed'")
        if not isinstance(self.audit, bool) and not callable(self.audit):
            raise TypeError("audit must be True, False or a callable taking an AuditEvent")
        for what, name in (("header", self.header), ("cookie_name", self.cookie_name)):
            if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
                raise ValueError(f"{what} must be an HTTP token, got {name!r}")
        object.__setattr__(self, "secret_keys", secret_key_list(self.secret_keys))
        if not self.salt:
            raise ValueError("salt must be a non-empty string")
        if self.max_age is not None and (isinstance(self.max_age, bool) or self.max_age <= 0):
            raise ValueError("max_age must be a positive number of seconds or None")
        if self.samesite not in ("lax", "strict", "none"):
            raise ValueError("samesite must be 'lax', 'strict' or 'none'")
        if self.samesite == "none" and not self.secure:
            raise ValueError("samesite='none' requires secure=True (browsers drop it otherwise)")

    @property
    def cookies_enabled(self) -> bool:
        """Cookies need a signing key; without one only the header is used."""
        return bool(self.secret_keys)

    def _manager_options(self) -> dict[str, Any]:
        return {
            "ttl": self.ttl,
            "idle_timeout": self.idle_timeout,
            "max_messages": self.max_messages,
            "audit": self.audit,
            "audit_ids": self.audit_ids,
        }

    def _plan(self, *, asynchronous: bool) -> tuple[Any, dict[str, Any]]:
        """The store (a URL, an object, ``None``) and the options a manager is
        made with. With no store given, the configuration file's, if there
        is one (the file the command line and ``from_config`` read: sealed
        when it asks for compression or encryption), and its options under
        the ones given here."""
        options = self._manager_options()
        if self.store is not None:
            return self.store, options
        config = load_config()
        if config.path is None:
            return None, options
        options = {
            **config.manager_options(),
            **{k: v for k, v in options.items() if v is not None},
        }
        return (config.async_store() if asynchronous else config.sync_store()), options

    def async_manager(self) -> AsyncSessionManager:
        """A manager over ``store`` for async frameworks (no I/O yet)."""
        store, options = self._plan(asynchronous=True)
        if store is not None and not isinstance(store, str) and not _is_async_store(store):
            raise TypeError("this integration needs an async store (AsyncStore) or a URL")
        return AsyncSessionManager(store, **options)

    def sync_manager(self) -> SessionManager:
        """A manager over ``store`` for sync (WSGI) frameworks (no I/O yet)."""
        store, options = self._plan(asynchronous=False)
        if store is not None and not isinstance(store, str) and _is_async_store(store):
            raise TypeError("this integration needs a sync store (Store) or a URL")
        return SessionManager(store, **options)


def _is_async_store(store: object) -> bool:
    return inspect.iscoroutinefunction(getattr(store, "get_session", None))


def warn_if_cookieless(settings: WebSettings) -> None:
    """Warn (once per place) that an enabled integration has no signing key.

    Called where an app configures the ASGI middleware or the Flask extension;
    Django has its system check ``agentsession.W001`` for the same thing.
    """
    if settings.enabled and not settings.secret_keys:
        warnings.warn(
            "agentsession: no secret key, so no session cookie: browsers get a new "
            "session on every request. Set SECRET_KEY (or secret_key=); header-only "
            "APIs may ignore agentsession.integrations.CookiesDisabledWarning.",
            CookiesDisabledWarning,
            stacklevel=3,
        )
