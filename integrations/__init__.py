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
