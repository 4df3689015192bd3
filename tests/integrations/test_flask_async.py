"""Flask ``async def`` views get an awaitable handle (``docs/design.md``, "Web layer"), through
Flask's test client.

``async_app`` is the shared chat app of ``web_apps`` with every view written
``async def``; the battery's tests that need only a ``client`` (or ``make``)
run here against it unchanged, so async views are held to exactly what sync
views are. Below them: what only async views have (the handle's kind, a loop
that is not blocked, class-based views, an app mixing both kinds) and what the
battery does not cover (422 for a limit, 503, one 404 for every refused id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask, g, request
from flask.views import MethodView, View

from agentsession import AsyncSession, IntegrityError, current_session
from agentsession.integrations.flask import AgentSessions, current_agent_session

from . import test_web_behaviour as battery
from .web_apps import FlaskClient
from .web_support import HAVE_SQLITE, KEY, USER_HEADER, Backend, Reply

#: The battery's tests that need only ``client`` / ``make``: collected here too,
#: with this module's fixtures, so async views meet what sync views meet.
BATTERY = (
    "test_a_thousand_anonymous_reads_create_nothing",
    "test_bad_message_data_is_422_and_creates_nothing",
    "test_claim_anonymous_rotates_the_id",
    "test_conflict_is_409",
    "test_delete_clears_the_cookie_and_starts_afresh",
    "test_every_refused_header_id_gets_the_identical_404",
    "test_foreign_session_by_cookie_is_ignored_and_cleared",
    "test_header_wins_over_cookie",
    "test_integrity_error_is_500_with_a_log_line",
    "test_logged_in_user_does_not_adopt_anonymous_session",
    "test_malformed_header_id_is_400",
    "test_new_session_is_owned_by_the_user",
    "test_round_trip_by_cookie",
    "test_round_trip_by_header",
    "test_session_ids_never_logged",
    "test_twenty_concurrent_clients_one_chain",
    "test_unknown_cookie_id_is_cleared_and_not_adopted",
    "test_unknown_header_id_is_404_and_not_adopted",
    "test_vary_and_cache_control_when_the_session_is_used",
)
globals().update({name: getattr(battery, name) for name in BATTERY})

HEADER = "X-Session-ID"
NOT_FOUND = {"error": "session_not_found", "message": "session not found"}


def _contents(entries: Any) -> list[str]:
    return [e.data["content"] for e in entries]


def async_app(backend: Backend, **config: Any) -> Flask:
    """The chat app of ``web_apps`` (same routes, same bodies), every view
    ``async def``; ``config`` adds Flask config keys."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=KEY, AGENTSESSION_AGENT="chat", **config)
    AgentSessions(
        app,
        store=backend.sync_store(),
        get_user_id=lambda req: req.headers.get(USER_HEADER),
    )

    @app.get("/messages")
    async def read() -> Any:
        s = g.agent_session
        context = current_session() is s
        return {"messages": _contents(await s.messages()), "exists": s.exists, "context": context}

    @app.post("/messages")
    async def write() -> Any:
        # The proxy is typed as the sync handle most views get: cast in async code.
        await cast(AsyncSession, current_agent_session).append(
            {"role": "user", "content": request.get_json()["content"]}
        )
        return {"messages": _contents(await g.agent_session.messages())}

    @app.post("/bad")
    async def bad() -> Any:
        await g.agent_session.append({"value": float("nan")})
        return {}

    @app.post("/conflict")
    async def conflict() -> Any:
        await g.agent_session.append({"content": "x"}, expected_head="stale-head-id")
        return {}

    @app.post("/integrity")
    async def integrity() -> Any:
        await g.agent_session.messages()
        raise IntegrityError("tampered")

    @app.post("/delete")
    async def delete() -> Any:
        return {"deleted": await g.agent_session.delete()}

    @app.get("/untouched")
    async def untouched() -> Any:
        return {}

    # -- beyond the shared app --

    @app.get("/handle")
    async def handle() -> Any:
        s = g.agent_session
        same = current_agent_session == s and current_session() is s
        return {"handle": type(s).__name__, "same": same}

    @app.post("/overlap")
    async def overlap() -> Any:
        # Another task of the view's loop runs while append waits for the store.
        events: list[str] = []

        async def append() -> None:
            await g.agent_session.append({"role": "user", "content": "overlap"})
            events.append("appended")

        async def tick() -> None:
            events.append("tick")

        await asyncio.gather(append(), tick())
        return {"events": events}

    @app.get("/sync-read")
    def sync_read() -> Any:
        s = g.agent_session
        return {"messages": _contents(s.messages()), "handle": type(s).__name__}

    return app


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend.create(tmp_path)


@contextmanager
def _client(backend: Backend, **options: Any) -> Iterator[FlaskClient]:
    app = async_app(backend, **{f"AGENTSESSION_{k.upper()}": v for k, v in options.items()})
    try:
        yield FlaskClient(app, backend)
    finally:
        app.extensions["agentsession"].close()


@pytest.fixture
def make(backend: Backend) -> Callable[..., AbstractContextManager[FlaskClient]]:
    """``make(claim_anonymous=True)``: a client of an app with those options."""
    return lambda **options: _client(backend, **options)


@pytest.fixture
def client(backend: Backend) -> Iterator[FlaskClient]:
    with _client(backend) as web:
        yield web


def post(client: FlaskClient, content: str, **headers: str) -> Reply:
    return client.request("POST", "/messages", json={"content": content}, headers=headers)


def start(client: FlaskClient) -> str:
    reply = post(client, "first")
    assert reply.status == 200, reply.body
    return str(reply.header(HEADER))


# -- what only async views have --------------------------------------------------------------


def test_async_view_gets_an_awaitable_handle(client: FlaskClient) -> None:
    reply = client.request("GET", "/handle")
    assert reply.body == {"handle": "AsyncLazySession", "same": True}
    assert client.backend.row_count() == 0  # nothing created on read


def test_async_view_does_not_block_its_loop(client: FlaskClient) -> None:
    reply = client.request("POST", "/overlap")
    assert reply.body == {"events": ["tick", "appended"]}
    assert _contents(client.backend.entries(str(reply.header(HEADER)))) == ["overlap"]


def test_sync_views_of_the_same_app_keep_the_sync_handle(client: FlaskClient) -> None:
    start(client)
    reply = client.request("GET", "/sync-read")
    assert reply.body == {"messages": ["first"], "handle": "LazySession"}


def test_class_based_views_by_the_method_that_runs(client: FlaskClient) -> None:
    class Chat(MethodView):
        async def get(self) -> Any:
            return {"handle": type(g.agent_session).__name__}

        def post(self) -> Any:
            g.agent_session.append({"role": "user", "content": "sync"})
            return {"handle": type(g.agent_session).__name__}

    class Whole(View):
        async def dispatch_request(self) -> Any:  # type: ignore[override]
            return {"handle": current_agent_session.__class__.__name__}

    client.app.add_url_rule("/class", view_func=Chat.as_view("chat"))
    client.app.add_url_rule("/whole", view_func=Whole.as_view("whole"))
    assert client.request("GET", "/class").body == {"handle": "AsyncLazySession"}
    assert client.request("HEAD", "/class").status == 200  # HEAD runs get()
    assert client.request("POST", "/class").body == {"handle": "LazySession"}
    assert client.request("GET", "/whole").body == {"handle": "AsyncLazySession"}


# -- errors the battery does not raise ---------------------------------------------------------


def test_limit_exceeded_is_422_and_leaves_the_session(make: Any) -> None:
    with make(max_messages=1) as client:
        session_id = start(client)
        reply = post(client, "one too many")
        assert (reply.status, reply.body["error"]) == (422, "limit_exceeded")
        assert _contents(client.backend.entries(session_id)) == ["first"]


@pytest.mark.skipif(not HAVE_SQLITE, reason="needs the SQLite store")
def test_store_down_is_503_json(tmp_path: Path) -> None:
    down = Backend(tmp_path / "sessions.db", None)
    down.path.mkdir()  # type: ignore[union-attr]  # a directory where the file should be
    with _client(down) as client:
        assert client.request("GET", "/messages").status == 200  # no id: store not needed
        named = client.request("GET", "/messages", headers={HEADER: "some-session-id-0000"})
        for reply in (post(client, "lost?"), named):
            assert (reply.status, reply.body["error"]) == (503, "store_unavailable")
            assert reply.set_cookies() == []


# -- one 404 for every id the caller may not have ------------------------------------------------

VOLATILE = {"date", "server"}


def _as_compared(reply: Reply) -> tuple[int, Any, list[tuple[str, str]]]:
    headers = sorted((k.lower(), v) for k, v in reply.headers if k.lower() not in VOLATILE)
    return reply.status, reply.body, headers


def _refused_id(case: str, backend: Backend) -> tuple[str, dict[str, str]]:
    """A session id the request may not have, and the request's own headers."""
    with backend.manager() as manager:
        if case == "unknown":
            return "no-such-session-0000", {}
        if case == "expired":
            session_id = manager.create("chat", ttl=timedelta(milliseconds=1)).id
            time.sleep(0.01)
            return session_id, {}
        if case == "deleted":
            session_id = manager.create("chat").id
            manager.delete(session_id)
            return session_id, {}
        if case == "other-agent":
            return manager.create("helper").id, {}
        owned = manager.create("chat", user_id="alice").id
        if case == "foreign-owner":
            return owned, {USER_HEADER: "bob"}
        if case == "anonymous-to-owned":
            return owned, {}
        assert case == "unowned-to-logged-in"  # claim_anonymous is off
        return manager.create("chat").id, {USER_HEADER: "bob"}


REFUSED = [
    "unknown",
    "expired",
    "deleted",
    "other-agent",
    "foreign-owner",
    "anonymous-to-owned",
    "unowned-to-logged-in",
]


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_refused_id_gets_the_same_404(client: FlaskClient, case: str, method: str) -> None:
    session_id, headers = _refused_id(case, client.backend)
    rows = client.backend.row_count()
    body = {"content": "x"}
    baseline = client.request(method, "/messages", json=body, headers={HEADER: "never-stored-00"})
    reply = client.request(method, "/messages", json=body, headers={HEADER: session_id, **headers})
    assert (reply.status, reply.body) == (404, NOT_FOUND)
    assert _as_compared(reply) == _as_compared(baseline)
    assert client.backend.row_count() == rows  # nothing written, nothing adopted
