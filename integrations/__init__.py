"""Web integrations of agentsession: one line in the app you already have.

* :mod:`agentsession.integrations.asgi` -- ``AgentSessionMiddleware``, a pure
  ASGI middleware (Starlette, FastAPI, any ASGI app).
* :mod:`agentsession.integrations.starlette` -- Starlette/FastAPI helpers
  (``agent_session(request)``, ``sync_session(request)``).
* :mod:`agentsession.integrations.django` -- the Django app.
* :mod:`agentsession.integrations.flask` -- the ``AgentSessions`` extension.

All of them adapt one framework-agnostic layer (``agentsession.integrations._web``)
that decides which session a request gets. Each framework is imported lazily;
a missing one raises an ``ImportError`` naming the extra to install. The core
package (``agentsession``) never imports anything from here.
"""

from __future__ import annotations

__all__ = ["CookiesDisabledWarning"]


class CookiesDisabledWarning(UserWarning):
    """No signing key is set, so sessions travel in the header only.

    Browsers then start a new session on every request. Set a key (the
    framework's ``SECRET_KEY``, or ``secret_key=`` of the ASGI middleware); an
    API whose clients always send ``X-Session-ID`` may silence it:
    ``warnings.filterwarnings("ignore", category=CookiesDisabledWarning)``.
    """
