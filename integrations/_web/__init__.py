"""The framework-agnostic layer under every web integration (``docs/design.md``, "Web layer").

Each framework file only adapts this: it reads the request, asks :func:`begin`
which session id the request names, gives the view a lazy handle, maps errors
that escape the view, and adds the headers the request state asks for.

Usage, options and behaviour: ``docs/web/index.md``, "Writing a framework integration".
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
