"""``AgentSessions``: the Flask extension.

Usage, options and behaviour: ``docs/web/flask.md``, "Flask".
"""

from __future__ import annotations

import atexit
import inspect
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from agentsession import AsyncSessionManager, InvalidInput, SessionManager, use_session
from agentsession.audit import request_scope
from agentsession.extras import missing_extra

try:
    import click
    from flask import (
        Flask,
        Response,
        appcontext_pushed,
        current_app,
        g,
        has_app_context,
        request,
    )
    from flask.cli import AppGroup, ScriptInfo
    from flask.views import MethodView
    from werkzeug.local import LocalProxy
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.flask (Flask)", "flask") from exc


from agentsession.retention import PRUNE_HELP, prune

from ._web import (
    DEFAULT_MAX_AGE,
    DEFAULT_SALT,
    HANDLED,
    AsyncLazySession,
    CookieSigner,
    ErrorResponse,
    LazySession,
    RequestState,
    WebSettings,
    begin,
    error_response,
)
from ._web.settings import warn_if_cookieless

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from agentsession import Session, Store

__all__ = ["AgentSessions", "current_agent_session", "session_manager"]

EXTENSION_KEY = "agentsession"
Handle = LazySession | AsyncLazySession
_G_STATE = "_agentsession_state"
_G_CONTEXT = "_agentsession_context"


def _seconds(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def _flask_login_user_id(_request: Any) -> str | None:
    """Flask-Login's ``current_user``, when it is installed and set up."""
    try:
        from flask_login import current_user  # type: ignore[import-untyped]
    except ImportError:
        return None
    if not hasattr(current_app, "login_manager"):
        return None
    if not current_user or not current_user.is_authenticated:
        return None
    user_id = current_user.get_id()
    return None if user_id is None else str(user_id)


class _AppSessions:
    """What ``app.extensions["agentsession"]`` holds for one app."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.signer = CookieSigner(settings)
        self._lock = threading.Lock()  # threaded servers: one manager, one store
        self._manager: SessionManager | None = None
        self._offloaded: AsyncSessionManager | None = None

    @property
    def owns_store(self) -> bool:
        """Whether the extension opened the store (from a URL or the default)
        and so closes it; a store object passed in stays the caller's."""
        return self.settings.store is None or isinstance(self.settings.store, str)

    @property
    def manager(self) -> SessionManager:
        """The app's session manager (the store connects on first use)."""
        with self._lock:
            if self._manager is None:
                self._manager = self.settings.sync_manager()
            return self._manager

    @property
    def async_manager(self) -> AsyncSessionManager:
        """The manager of ``async def`` views: the same store, each call run in
        the request's thread (Flask gives every async view a new event loop,
        which an async store could not outlive)."""
        manager = self.manager
        with self._lock:
            if self._offloaded is None:
                from ._offload import offloaded  # asgiref: flask[async]

                self._offloaded = offloaded(manager)
            return self._offloaded

    def close(self) -> None:
        """Close the store if the extension opened it (never a store object
        passed in); a later request opens it again."""
        with self._lock:
            manager, self._manager, self._offloaded = self._manager, None, None
        if manager is not None and self.owns_store:
            manager.close()


class AgentSessions:
    """The extension. ``AgentSessions(app)``, or ``AgentSessions()`` then
    ``init_app(app)`` in an app factory; it keeps no reference to any app.

    Args:
        app: the app to set up now (optional).
        store: a store URL or ``Store`` overriding ``AGENTSESSION_STORE``.
        get_user_id: ``callable(request) -> str | None`` naming the user
            (default: Flask-Login's ``current_user``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: str | Store | None = None,
        get_user_id: Callable[[Any], str | int | None] | None = None,
    ) -> None:
        self._store = store
        self._get_user_id = get_user_id
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the ``AGENTSESSION_*`` config of ``app`` and hook into it."""
        config = app.config
        secret = config.get("SECRET_KEY")
        fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
        settings = WebSettings(
            store=self._store if self._store is not None else config.get("AGENTSESSION_STORE"),
            agent=config.get("AGENTSESSION_AGENT", "default"),
            header=config.get("AGENTSESSION_HEADER", "X-Session-ID"),
            cookie_name=config.get("AGENTSESSION_COOKIE_NAME", "agentsession"),
            secret_keys=tuple(k for k in (secret, *fallbacks) if k),
            salt=config.get("AGENTSESSION_COOKIE_SALT", DEFAULT_SALT),
            max_age=config.get("AGENTSESSION_MAX_AGE", DEFAULT_MAX_AGE),
            secure=bool(config.get("AGENTSESSION_COOKIE_SECURE", False)),
            httponly=bool(config.get("AGENTSESSION_COOKIE_HTTPONLY", True)),
            samesite=config.get("AGENTSESSION_COOKIE_SAMESITE", "lax"),
            path=config.get("AGENTSESSION_COOKIE_PATH", "/"),
            domain=config.get("AGENTSESSION_COOKIE_DOMAIN"),
            claim_anonymous=bool(config.get("AGENTSESSION_CLAIM_ANONYMOUS", False)),
            enabled=bool(config.get("AGENTSESSION_ENABLED", True)),
            get_user_id=self._get_user_id or _flask_login_user_id,
            ttl=_seconds(config.get("AGENTSESSION_TTL")),
            idle_timeout=_seconds(config.get("AGENTSESSION_IDLE_TIMEOUT")),
            max_messages=config.get("AGENTSESSION_MAX_MESSAGES"),
            audit=config.get("AGENTSESSION_AUDIT", False),
            audit_ids=config.get("AGENTSESSION_AUDIT_IDS", "clear"),
        )
        warn_if_cookieless(settings)
        sessions = _AppSessions(settings)
        app.extensions[EXTENSION_KEY] = sessions
        atexit.register(sessions.close)
        app.cli.add_command(_cli)
        if not settings.enabled:
            return
        app.before_request(_before_request)
        app.after_request(_after_request)
        app.teardown_appcontext(_teardown)
        appcontext_pushed.connect(_repushed, app)
        for error in HANDLED:
            app.register_error_handler(error, _error_handler)


def _sessions() -> _AppSessions:
    return cast(_AppSessions, current_app.extensions[EXTENSION_KEY])


def session_manager() -> SessionManager:
    """The current app's session manager, for work outside ``g.agent_session``:
    listing a user's sessions, starting a new one, deleting one (the same
    store; it connects on first use). Needs an app context.

    Raises:
        RuntimeError: ``AgentSessions`` was not initialised on the current app.
    """
    if EXTENSION_KEY not in current_app.extensions:
        raise RuntimeError("AgentSessions is not initialised on this app: call init_app(app)")
    return _sessions().manager


def _json_response(error: ErrorResponse) -> Response:
    headers = [(k, v) for k, v in error.headers if k.lower() != "content-length"]
    return current_app.response_class(error.body, status=error.status, headers=headers)


def _before_request() -> Response | None:
    sessions = _sessions()
    settings = sessions.settings
    if settings.audit:  # this request's events carry its method, path and remote
        scope = request_scope(request.method, request.path, request.remote_addr)
        scope.__enter__()
        g.setdefault(_G_CONTEXT, []).append(scope)
    ids = request.headers.getlist(settings.header)
    hook = settings.get_user_id
    result = begin(
        settings,
        sessions.signer,
        header=",".join(ids) if ids else None,
        cookie=request.cookies.get(settings.cookie_name),
        user_id=hook(request) if hook is not None else None,
    )
    if isinstance(result, ErrorResponse):
        return _json_response(result)
    handle: Handle
    if _is_async_view():
        handle = AsyncLazySession(sessions.async_manager, result)
    else:
        handle = LazySession(sessions.manager, result)
    g.agent_session = handle
    setattr(g, _G_STATE, result)
    _enter(handle)
    return None


def _is_async_view() -> bool:
    """Whether the request's view is an ``async def`` (Flask runs it through
    ``ensure_sync``, on an event loop of its own)."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if isinstance(view_class, type):  # View.as_view(): the method that will run
        view = getattr(view_class, "dispatch_request", None)
        if issubclass(view_class, MethodView):
            method = request.method.lower()
            view = getattr(view_class, method, None)
            if view is None and method == "head":
                view = getattr(view_class, "get", None)
    return inspect.iscoroutinefunction(view)


def _enter(handle: Handle) -> None:
    # The lazy handle stands in for a session: same methods (see _web).
    context = use_session(cast("Session", handle))
    context.__enter__()
    g.setdefault(_G_CONTEXT, []).append(context)


def _repushed(_app: Flask, **_extra: Any) -> None:
    # stream_with_context pops the request's contexts, then pushes them again
    # around the generator: make current_session() work there too.
    handle = g.get("agent_session")
    if isinstance(handle, LazySession | AsyncLazySession):
        _enter(handle)


def _after_request(response: Response) -> Response:
    state: RequestState | None = g.get(_G_STATE)
    if state is not None:
        headers = state.response_headers(list(response.headers.items()))
        response.headers.clear()
        response.headers.extend(headers)
    return response


def _teardown(_exc: BaseException | None) -> None:
    contexts: list[AbstractContextManager[Any]] = g.get(_G_CONTEXT, [])
    while contexts:
        contexts.pop().__exit__(None, None, None)


def _error_handler(exc: Exception) -> Response:
    return _json_response(error_response(exc))


def _current() -> Handle:
    handle = g.get("agent_session")
    if not isinstance(handle, LazySession | AsyncLazySession):
        raise RuntimeError("no agent session: AgentSessions is not set up or is disabled")
    return handle


#: The request's session, wherever ``g`` is available: ``g.agent_session``, an
#: :class:`AsyncLazySession` in ``async def`` views. Typed as the sync handle
#: most views get; typed async code writes ``cast(AsyncSession, current_agent_session)``.
current_agent_session: LazySession = cast(LazySession, LocalProxy(_current))

_cli = AppGroup("agentsession", help="Agent sessions of this app.")


@_cli.command("prune")
@click.option("--batch", type=int, default=500, help=PRUNE_HELP["batch"])
@click.option("--older-than", help=PRUNE_HELP["older_than"])
@click.option("--keep-newest", type=int, help=PRUNE_HELP["keep_newest"])
@click.option(
    "--per", type=click.Choice(["user", "agent", "user_agent"]), default="user",
    help=PRUNE_HELP["per"],
)  # fmt: skip
@click.option("--agent", help=PRUNE_HELP["agent"])
@click.option("--dry-run", is_flag=True, help=PRUNE_HELP["dry_run"])
def _prune(**options: Any) -> None:
    """Erase expired sessions, and those the retention options name."""
    try:
        click.echo(prune(_sessions().manager, **options))
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None


def _command_line_manager() -> SessionManager:
    """The app's manager for ``flask agentsession <command>`` (ls, show, ...)."""
    if not has_app_context():  # commands added here are not wrapped by Flask
        ctx = click.get_current_context()
        ctx.with_resource(ctx.ensure_object(ScriptInfo).load_app().app_context())
    return _sessions().manager


try:  # the other commands need the cli extra; prune is always there
    from agentsession.cli import add_commands
except ImportError:
    pass
else:
    add_commands(_cli, _command_line_manager)
