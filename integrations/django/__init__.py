"""The Django app of agentsession: a session per conversation on every request.

::

    INSTALLED_APPS += ["agentsession.integrations.django"]
    MIDDLEWARE += ["agentsession.integrations.django.AgentSessionMiddleware"]  # after auth
    AGENTSESSION = {"STORE": "sqlite:///sessions.db", "AGENT": "assistant"}  # or "django"

    def chat(request):                      # a sync view gets a sync handle
        request.agent_session.append({"role": "user", "content": "hi"})

    async def achat(request):               # an async view gets an awaitable one
        await request.agent_session.append({"role": "user", "content": "hi"})

Which handle a view gets (the middleware tells the kinds apart as Django does):

==============  ==========================================  ======================================
view            under WSGI                                  under ASGI
==============  ==========================================  ======================================
``def``         ``LazySession``: the sync store, called      ``LazySession``: the sync store, in
                in the view's thread                         the thread Django runs the view in
``async def``   awaitable ``AsyncLazySession``: the sync     awaitable ``AsyncLazySession``: the
                store, each call run in a thread             async store (one per event loop)
==============  ==========================================  ======================================

``request.agent_session`` and ``agentsession.current_session()`` are that
handle, in the view and while its streaming response is iterated.

``session_manager()`` (and ``async_session_manager()`` under ASGI) is the app's
manager, for work outside ``request.agent_session``: listing a user's sessions,
starting a new one, deleting one.

``"STORE": "django"`` keeps sessions in the project's database (the models of
this app; run ``migrate``). See :mod:`.conf` for every setting, :mod:`.checks`
for the system checks, and ``manage.py agentsession_prune`` to erase expired
sessions.
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
