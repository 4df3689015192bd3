"""The Django app of agentsession: a session per conversation on every request.

Usage, options and behaviour: ``docs/web/django.md``, "Django".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentsession.extras import missing_extra

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.django (Django)", "django") from exc

if TYPE_CHECKING:
    from .._web import AsyncLazySession, LazySession
    from .conf import async_session_manager, session_manager
    from .middleware import AgentSessionMiddleware
    from .store import AsyncDjangoStore, DjangoStore

__all__ = [
    "AgentSessionMiddleware",
    "AsyncDjangoStore",
    "AsyncLazySession",
    "DjangoStore",
    "LazySession",
    "async_session_manager",
    "session_manager",
]

_LAZY = {  # name -> module, relative to this package
    "AgentSessionMiddleware": ".middleware",
    "AsyncDjangoStore": ".store",
    "AsyncLazySession": ".._web",  # the types of request.agent_session, for annotations
    "DjangoStore": ".store",
    "LazySession": ".._web",
    "async_session_manager": ".conf",
    "session_manager": ".conf",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing the app package must not import models before the app
    # registry is ready (Django imports this package while loading apps).
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
