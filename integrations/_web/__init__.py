"""The framework-agnostic layer under every web integration (``docs/design.md``, "Web layer").

Each framework file only adapts this: it reads the request, asks :func:`begin`
which session id the request names, gives the view a lazy handle, maps errors
that escape the view, and adds the headers the request state asks for.

How a framework integration uses it (sync framework shown; async is the same
with ``settings.async_manager()``, :class:`AsyncLazySession` and ``await``)::

    from agentsession import use_session
    from agentsession.integrations._web import (
        HANDLED, CookieSigner, ErrorResponse, LazySession, WebSettings,
        begin, error_response, read_cookie,
    )

    # once per app (no I/O: stores connect lazily); close manager at shutdown
    settings = WebSettings(store="sqlite:///sessions.db", agent="assistant",
                           secret_keys=[SECRET_KEY, *SECRET_KEY_FALLBACKS])  # newest first
    signer = CookieSigner(settings)
    manager = settings.sync_manager()

    # per request (skip everything when not settings.enabled)
    result = begin(
        settings, signer,
        header=request.headers.get(settings.header),     # None if absent
        cookie=read_cookie(raw_cookie_header, settings.cookie_name),  # or a cookie dict
        user_id=user_id_or_none,                          # settings.get_user_id(request) wins
    )
    if isinstance(result, ErrorResponse):                        # malformed header id: 400,
        return make_response(result.status, result.body, result.headers)  # store untouched
    state = result
    handle = LazySession(manager, state)                         # request.agent_session = handle
    try:
        with use_session(handle):                                # agentsession.current_session()
            response = view(request)
    except HANDLED as exc:                                       # SessionNotFound -> 404, ...
        err = error_response(exc)
        response = make_response(err.status, err.body, err.headers)
    # X-Session-ID + Set-Cookie for a new/rotated id, cookie clearing, and
    # Vary: Cookie, X-Session-ID / Cache-Control: private when the session was used:
    response.headers = state.response_headers(list(response.headers.items()))
    # (or use state.cookie() -> CookieInstruction fields with the framework's set_cookie)

A sync view running under ASGI (a worker thread, the store owned by the loop)
gets ``sync_view(async_handle, run)`` with ``run = anyio.from_thread.run`` or
``lambda f: asgiref.sync.async_to_sync(f)()``: a :class:`LazySession` on the
same request state, forwarding store calls to the loop.

Rules kept here, once for every framework: the header wins over the cookie; a
malformed header id is a 400 before any store call; an unknown, expired,
deleted or foreign id in the header is a 404 on first use (same body for all);
any bad cookie is ignored and cleared; nothing is created on read; the first
write creates the session for the current user; ``claim_anonymous`` rotates the
id of an anonymous session a logged-in user presents.
"""

from __future__ import annotations

from ._async.handle import AsyncLazySession
from ._sync.handle import LazySession
from .blocking import BlockingStore, Runner, sync_view
from .cookies import CookieInstruction, CookieSigner, read_cookie
from .errors import HANDLED, ErrorResponse, error_response, logger
from .resolution import RequestState, Source, begin, merge_cache_control, merge_vary
from .settings import DEFAULT_MAX_AGE, DEFAULT_SALT, WebSettings, secret_key_list

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_SALT",
    "HANDLED",
    "AsyncLazySession",
    "BlockingStore",
    "CookieInstruction",
    "CookieSigner",
    "ErrorResponse",
    "LazySession",
    "RequestState",
    "Runner",
    "Source",
    "WebSettings",
    "begin",
    "error_response",
    "logger",
    "merge_cache_control",
    "merge_vary",
    "read_cookie",
    "secret_key_list",
    "sync_view",
]
