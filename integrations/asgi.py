"""``AgentSessionMiddleware``: agent sessions for any ASGI app (Starlette, FastAPI).

Usage, options and behaviour: ``docs/web/asgi.md``, "ASGI middleware".
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from agentsession import AsyncSessionManager, use_session
from agentsession.audit import request_scope

from ._web import (
    DEFAULT_MAX_AGE,
    DEFAULT_SALT,
    HANDLED,
    AsyncLazySession,
    CookieSigner,
    ErrorResponse,
    WebSettings,
    begin,
    error_response,
    read_cookie,
)
from ._web.asgi import ASGIApp, Message, Receive, Scope, Send, send_error, with_session_headers
from ._web.settings import SameSite, warn_if_cookieless

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from agentsession import AsyncStore

__all__ = ["STATE_KEY", "AgentSessionMiddleware", "Receive", "Scope", "Send"]

#: Key of the handle in ``scope["state"]`` (so ``request.state.agent_session``).
STATE_KEY = "agent_session"

# The messages that carry response headers: the session's are added there.
_HEADED = frozenset(("http.response.start", "websocket.http.response.start", "websocket.accept"))
_ENDS = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")


class AgentSessionMiddleware:
    """Give every HTTP/websocket request its agent session.

    Args:
        app: the ASGI app to wrap.
        store: a store URL (``None``: ``open_async_store()``'s default), opened
            and closed by the middleware; or an ``AsyncStore``, which stays the
            caller's to close.
        agent: the agent name of the sessions this app creates and accepts.
        secret_key: cookie signing key, or a list of keys **newest first**
            (sign with the first, accept all). ``None``: no cookie, header only.
        salt: itsdangerous salt of the cookie signature; the default is used by
            no other context (Django's ``COOKIE_SALT``, Flask's
            ``AGENTSESSION_COOKIE_SALT``).
        header: the request and response header the session id travels in.
        cookie_name: the cookie it travels in.
        max_age: cookie ``Max-Age`` and the oldest signature accepted (seconds).
        secure: the cookie's ``Secure`` attribute.
        samesite: its ``SameSite`` attribute.
        path: its ``Path``.
        domain: its ``Domain``.
        httponly: its ``HttpOnly`` attribute.
        claim_anonymous: a logged-in user presenting an anonymous session takes
            it over, under a new id.
        enabled: ``False`` passes every request straight through.
        get_user_id: ``callable(scope) -> str | None`` (or async) naming the
            user; it gets the raw ASGI scope (``HTTPConnection(scope)`` gives
            Starlette's view of it).
        ttl: the lifetime of new sessions.
        idle_timeout: their idle timeout.
        max_messages: their message limit.
        audit: the manager's audit option (``True``: the
            ``agentsession.audit`` logger; or a callable); each request's
            events then carry its method, path and client address.
        audit_ids: ``"clear"`` or ``"hashed"`` session ids in audit events.
        settings: a ready :class:`WebSettings` instead of the arguments above.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: str | AsyncStore | None = None,
        agent: str = "default",
        secret_key: str | bytes | Sequence[str | bytes] | None = None,
        salt: str = DEFAULT_SALT,
        header: str = "X-Session-ID",
        cookie_name: str = "agentsession",
        max_age: int | None = DEFAULT_MAX_AGE,
        secure: bool = False,
        samesite: SameSite = "lax",
        path: str = "/",
        domain: str | None = None,
        httponly: bool = True,
        claim_anonymous: bool = False,
        enabled: bool = True,
        get_user_id: Callable[[Scope], str | int | Awaitable[str | int | None] | None]
        | None = None,
        ttl: timedelta | None = None,
        idle_timeout: timedelta | None = None,
        max_messages: int | None = None,
        audit: Callable[[Any], None] | bool = False,
        audit_ids: Literal["clear", "hashed"] = "clear",
        settings: WebSettings | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or WebSettings(
            store=store,
            agent=agent,
            header=header,
            cookie_name=cookie_name,
            secret_keys=secret_key,  # type: ignore[arg-type]  # normalised by WebSettings
            salt=salt,
            max_age=max_age,
            secure=secure,
            samesite=samesite,
            path=path,
            domain=domain,
            httponly=httponly,
            claim_anonymous=claim_anonymous,
            enabled=enabled,
            get_user_id=get_user_id,
            ttl=ttl,
            idle_timeout=idle_timeout,
            max_messages=max_messages,
            audit=audit,
            audit_ids=audit_ids,
        )
        warn_if_cookieless(self.settings)
        self._signer = CookieSigner(self.settings)
        self._header = self.settings.header.lower().encode("latin-1")
        self._manager: AsyncSessionManager | None = None
        if self.settings.enabled and _is_starlette(app):
            # Wrapped from outside, the errors would meet Starlette's own 500
            # (ServerErrorMiddleware) before reaching us: let its exception
            # middleware answer them the same way instead.
            from ._web.starlette_errors import install_exception_handlers

            install_exception_handlers(app)

    @property
    def manager(self) -> AsyncSessionManager:
        """The app's session manager (created on first use; no I/O)."""
        if self._manager is None:
            self._manager = self.settings.async_manager()
        return self._manager

    async def aclose(self) -> None:
        """Close the store if the middleware opened it (done at lifespan
        shutdown); a store object the caller passed in is left open. A later
        request reopens a store given by URL."""
        manager, self._manager = self._manager, None
        if manager is not None and self._owns_store:
            await manager.close()

    @property
    def _owns_store(self) -> bool:
        store = self.settings.store
        return store is None or isinstance(store, str)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if not ((scope_type == "http" or scope_type == "websocket") and self.settings.enabled):
            if scope_type == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # Below runs on every request, so it is kept lean (benchmarks/middleware).
        websocket = scope_type == "websocket"
        # One pass over the request headers, each name lowercased once.
        ids: list[str] = []
        cookies: list[str] = []
        for name, value in scope.get("headers") or ():
            name = name.lower()
            if name == self._header:
                ids.append(value.decode("latin-1"))
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
        settings = self.settings
        cookie = read_cookie("; ".join(cookies), settings.cookie_name) if cookies else None
        hook = settings.get_user_id
        result = begin(
            settings,
            self._signer,
            header=",".join(ids) if ids else None,
            cookie=cookie,
            user_id=_scope_user(scope) if hook is None else await _hook_user(hook, scope),
        )
        if isinstance(result, ErrorResponse):
            await send_error(send, result, websocket)
            return
        state = result
        handle = AsyncLazySession(self._manager or self.manager, state)
        scope.setdefault("state", {})[STATE_KEY] = handle
        started = closed = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started, closed
            kind = message["type"]
            if kind in _HEADED:
                started = True
                if state.varies:  # else the session adds nothing: the app's start as it is
                    message = dict(message)
                    message["headers"] = with_session_headers(
                        state, message.get("headers") or [], websocket
                    )
            elif kind == "websocket.close":
                closed = True
            await send(message)

        try:
            # The lazy handle stands in for a session: same methods (see _web).
            with use_session(handle), _audited(settings, scope):
                await self.app(scope, receive, send_wrapper)
        except HANDLED as exc:
            if closed or (started and not websocket):
                raise
            await send_error(send, error_response(exc), websocket, state.response_headers())

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.settings.enabled:
                _ = self.manager
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] in _ENDS:
                await self.aclose()
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)


async def _hook_user(hook: Callable[[Scope], object], scope: Scope) -> object:
    value = hook(scope)
    if inspect.isawaitable(value):
        value = await value
    return value  # begin() applies the one rule (user_id_of)


def _scope_user(scope: Scope) -> str | None:
    """The user Starlette's ``AuthenticationMiddleware`` put in the scope."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        identity = user.identity
    except NotImplementedError:
        identity = user.display_name
    return str(identity) if identity else None


def _is_starlette(app: object) -> TypeGuard[Starlette]:
    # No Starlette import: if its module is not loaded, app cannot be one.
    module = sys.modules.get("starlette.applications")
    return module is not None and isinstance(app, module.Starlette)


def _audited(settings: WebSettings, scope: Scope) -> AbstractContextManager[None]:
    """While the app serves the request, audit events carry its method, path
    and client address (when the settings audit)."""
    if not settings.audit:
        return nullcontext()
    client = scope.get("client")
    method = scope.get("method", "WEBSOCKET")
    return request_scope(method, scope.get("path", ""), client[0] if client else None)
