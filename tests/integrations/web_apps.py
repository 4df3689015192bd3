"""The same small chat app in each framework, and clients adapted to one shape.

Routes (every framework):
    GET  /messages    reads only: {"messages": [...], "exists": bool, "context": bool}
    POST /messages    appends {"role": "user", "content": json["content"]}
    POST /bad         appends data that is not JSON (NaN)      -> 422
    POST /conflict    appends with a stale expected_head       -> 409
    POST /integrity   raises IntegrityError                    -> 500
    POST /delete      deletes the session
    GET  /untouched   never uses the session

The user is whatever the ``X-Test-User`` header says (the test apps'
``get_user_id``). Cookies are kept by the adapter itself (one jar per client),
so what the tests see is exactly the ``Set-Cookie`` the app sent.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from flask import Flask, g
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentsession import IntegrityError, current_session
from agentsession.integrations.asgi import AgentSessionMiddleware
from agentsession.integrations.flask import AgentSessions
from agentsession.integrations.starlette import agent_session, sync_session

from .web_support import KEY, USER_HEADER, Backend, Reply

with warnings.catch_warnings():  # only if httpx2 is missing: then httpx is used
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient as TestClient

COOKIE = "agentsession"
#: "starlette-outer": the middleware wraps the Starlette app from outside.
FRAMEWORKS = ["starlette", "starlette-sync", "starlette-outer", "flask"]


def _same(a: object, b: object) -> bool:
    # current_session() is typed Session | AsyncSession; the web handles stand in.
    return a is b


def _contents(entries: Any) -> list[str]:
    return [e.data["content"] for e in entries]


# -- Starlette, async endpoints ----------------------------------------------------


async def _a_read(request: Request) -> Response:
    s = agent_session(request)
    messages = _contents(await s.messages())
    context = _same(current_session(), s)
    return JSONResponse({"messages": messages, "exists": s.exists, "context": context})


async def _a_write(request: Request) -> Response:
    s = request.state.agent_session
    await s.append({"role": "user", "content": (await request.json())["content"]})
    return JSONResponse({"messages": _contents(await s.messages())})


async def _a_bad(request: Request) -> Response:
    await agent_session(request).append({"value": float("nan")})
    return JSONResponse({})


async def _a_conflict(request: Request) -> Response:
    await agent_session(request).append({"content": "x"}, expected_head="stale-head-id")
    return JSONResponse({})


async def _a_integrity(request: Request) -> Response:
    await agent_session(request).messages()
    raise IntegrityError("tampered")


async def _a_delete(request: Request) -> Response:
    return JSONResponse({"deleted": await agent_session(request).delete()})


async def _untouched(request: Request) -> Response:
    return JSONResponse({})


# -- Starlette, sync endpoints (worker thread) -----------------------------------------


def _s_read(request: Request) -> Response:
    s = sync_session(request)
    messages = _contents(s.messages())
    context = _same(current_session(), s)  # the sync view, in this worker thread
    return JSONResponse({"messages": messages, "exists": s.exists, "context": context})


def _s_bad(request: Request) -> Response:
    sync_session(request).append({"value": float("nan")})
    return JSONResponse({})


def _s_conflict(request: Request) -> Response:
    sync_session(request).append({"content": "x"}, expected_head="stale-head-id")
    return JSONResponse({})


def _s_integrity(request: Request) -> Response:
    sync_session(request).messages()
    raise IntegrityError("tampered")


def _s_delete(request: Request) -> Response:
    return JSONResponse({"deleted": sync_session(request).delete()})


async def _s_write_entry(request: Request) -> Response:
    # Read the body on the loop, then do the session work in a worker thread
    # through the sync view, as a sync endpoint would.
    from starlette.concurrency import run_in_threadpool

    content = (await request.json())["content"]

    def work() -> list[str]:
        s = sync_session(request)
        s.append({"role": "user", "content": content})
        return _contents(s.messages())

    return JSONResponse({"messages": await run_in_threadpool(work)})


def _header_user(scope: Any) -> str | None:
    for name, value in scope.get("headers") or []:
        if name.decode("latin-1").lower() == USER_HEADER.lower():
            return str(value.decode("latin-1"))
    return None


def starlette_app(
    backend: Backend, *, sync: bool = False, outer: bool = False, **options: Any
) -> Starlette | AgentSessionMiddleware:
    a = {
        "read": _s_read if sync else _a_read,
        "write": _s_write_entry if sync else _a_write,
        "bad": _s_bad if sync else _a_bad,
        "conflict": _s_conflict if sync else _a_conflict,
        "integrity": _s_integrity if sync else _a_integrity,
        "delete": _s_delete if sync else _a_delete,
    }
    options.setdefault("secret_key", KEY)
    options.setdefault("get_user_id", _header_user)
    routes = [
        Route("/messages", a["read"], methods=["GET"]),
        Route("/messages", a["write"], methods=["POST"]),
        Route("/bad", a["bad"], methods=["POST"]),
        Route("/conflict", a["conflict"], methods=["POST"]),
        Route("/integrity", a["integrity"], methods=["POST"]),
        Route("/delete", a["delete"], methods=["POST"]),
        Route("/untouched", _untouched, methods=["GET"]),
    ]
    if outer:  # app = AgentSessionMiddleware(app, ...)
        return AgentSessionMiddleware(
            Starlette(routes=routes), store=backend.async_store(), agent="chat", **options
        )
    middleware = [
        Middleware(AgentSessionMiddleware, store=backend.async_store(), agent="chat", **options)
    ]
    return Starlette(routes=routes, middleware=middleware)


# -- Flask ----------------------------------------------------------------------------------


def flask_app(backend: Backend, **options: Any) -> Flask:
    app = Flask(__name__)
    secret = options.pop("secret_key", KEY)
    keys = [secret] if isinstance(secret, str) else list(secret or [])
    app.config.update(
        SECRET_KEY=keys[0] if keys else None,
        SECRET_KEY_FALLBACKS=keys[1:],
        AGENTSESSION_AGENT="chat",
        **{f"AGENTSESSION_{k.upper()}": v for k, v in options.items()},
    )
    for option in ("SECURE", "SALT"):  # Flask spells these AGENTSESSION_COOKIE_*
        if f"AGENTSESSION_{option}" in app.config:
            app.config[f"AGENTSESSION_COOKIE_{option}"] = app.config.pop(f"AGENTSESSION_{option}")
    AgentSessions(
        app,
        store=backend.sync_store(),
        get_user_id=lambda request: request.headers.get(USER_HEADER),
    )

    @app.get("/messages")
    def read() -> Any:
        s = g.agent_session
        context = _same(current_session(), s)
        return {"messages": _contents(s.messages()), "exists": s.exists, "context": context}

    @app.post("/messages")
    def write() -> Any:
        s = g.agent_session
        s.append({"role": "user", "content": flask_request.get_json()["content"]})
        return {"messages": _contents(s.messages())}

    @app.post("/bad")
    def bad() -> Any:
        g.agent_session.append({"value": float("nan")})
        return {}

    @app.post("/conflict")
    def conflict() -> Any:
        g.agent_session.append({"content": "x"}, expected_head="stale-head-id")
        return {}

    @app.post("/integrity")
    def integrity() -> Any:
        g.agent_session.messages()
        raise IntegrityError("tampered")

    @app.post("/delete")
    def delete() -> Any:
        return {"deleted": g.agent_session.delete()}

    @app.get("/untouched")
    def untouched() -> Any:
        return {}

    return app


# -- clients -----------------------------------------------------------------------------------


class _Jar:
    def __init__(self) -> None:
        self.value: str | None = None

    def update(self, reply: Reply) -> None:
        for header in reply.set_cookies():
            name, _, rest = header.partition("=")
            if name != COOKIE:
                continue
            value = rest.split(";", 1)[0]
            self.value = None if "Max-Age=0" in header else value

    def headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.value is not None:
            headers["Cookie"] = f"{COOKIE}={self.value}"
        return headers


class StarletteClient:
    def __init__(self, client: TestClient, backend: Backend) -> None:
        self.client = client
        self.backend = backend
        self.jar = _Jar()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.client.cookies.clear()
        raw = [(k.encode(), v.encode("latin-1")) for k, v in self.jar.headers(headers).items()]
        r = self.client.request(method, path, json=json, headers=raw)
        self.client.cookies.clear()
        body = r.json() if r.headers.get("content-type") == "application/json" else r.text
        reply = Reply(r.status_code, body, list(r.headers.multi_items()))
        self.jar.update(reply)
        return reply

    def cookie(self) -> str | None:
        return self.jar.value

    def set_cookie(self, value: str) -> None:
        self.jar.value = value

    def clear_cookies(self) -> None:
        self.jar.value = None

    def fork(self) -> StarletteClient:
        return StarletteClient(self.client, self.backend)


class FlaskClient:
    def __init__(self, app: Flask, backend: Backend) -> None:
        self.app = app
        self.client = app.test_client(use_cookies=False)
        self.backend = backend
        self.jar = _Jar()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        r = self.client.open(path, method=method, json=json, headers=self.jar.headers(headers))
        reply = Reply(r.status_code, r.get_json(silent=True) or r.text, list(r.headers.items()))
        self.jar.update(reply)
        return reply

    def cookie(self) -> str | None:
        return self.jar.value

    def set_cookie(self, value: str) -> None:
        self.jar.value = value

    def clear_cookies(self) -> None:
        self.jar.value = None

    def fork(self) -> FlaskClient:
        return FlaskClient(self.app, self.backend)


@contextmanager
def web_client(framework: str, backend: Backend, **options: Any) -> Iterator[Any]:
    """A client of the chat app in ``framework``, with the integration's options."""
    with ExitStack() as stack:
        if framework == "flask":
            app = flask_app(backend, **options)
            stack.callback(app.extensions["agentsession"].close)
            yield FlaskClient(app, backend)
        else:
            sapp = starlette_app(
                backend,
                sync=framework == "starlette-sync",
                outer=framework == "starlette-outer",
                **options,
            )
            client = stack.enter_context(TestClient(sapp))
            yield StarletteClient(client, backend)
