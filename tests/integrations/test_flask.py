"""What is particular to the Flask extension: app factories, config keys,
``g`` / ``current_agent_session``, Flask-Login, the CLI, the contextvar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, stream_with_context
from flask_login import LoginManager, UserMixin, login_user  # type: ignore[import-untyped]
from itsdangerous import TimestampSigner

from agentsession import (
    NoSessionInContext,
    SessionManager,
    StoreClosed,
    current_session,
    open_store,
)
from agentsession.integrations import CookiesDisabledWarning
from agentsession.integrations._web import DEFAULT_SALT
from agentsession.integrations.flask import AgentSessions, current_agent_session, session_manager

from .web_support import HAVE_SQLITE, KEY, OLD_KEY, Backend, forge_cookie

needs_sqlite = pytest.mark.skipif(not HAVE_SQLITE, reason="needs the SQLite store")


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend.create(tmp_path)


def create_app(backend: Backend, extension: AgentSessions, **config: Any) -> Flask:
    """An app factory, the way the Flask docs write them."""
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": KEY, "AGENTSESSION_STORE": backend.sync_store(), **config})
    extension.init_app(app)

    @app.post("/chat")
    def chat() -> Any:
        assert current_agent_session.exists == g.agent_session.exists
        current_agent_session.append({"role": "user", "content": "hi"})
        same = current_session() is g.agent_session
        return {"count": len(g.agent_session.messages()), "same": same}

    @app.get("/stream")
    def stream() -> Any:
        def body() -> Iterator[str]:
            yield "a;"
            yield f"same={current_session() is g.agent_session};"
            yield f"count={len(current_agent_session.messages())}"

        return app.response_class(stream_with_context(body()))

    return app


@pytest.fixture
def app(backend: Backend) -> Iterator[Flask]:
    flask_app = create_app(backend, AgentSessions())
    yield flask_app
    flask_app.extensions["agentsession"].close()


def test_factory_with_two_apps(backend: Backend, tmp_path: Path) -> None:
    extension = AgentSessions()
    other = Backend.create(tmp_path / "other")
    (tmp_path / "other").mkdir()
    first = create_app(backend, extension)
    second = create_app(other, extension, AGENTSESSION_AGENT="helper")
    try:
        assert not hasattr(extension, "app")
        assert first.extensions["agentsession"] is not second.extensions["agentsession"]
        assert second.extensions["agentsession"].settings.agent == "helper"
        first.test_client().post("/chat")
        assert (backend.session_count(), other.session_count()) == (1, 0)
    finally:
        first.extensions["agentsession"].close()
        second.extensions["agentsession"].close()


def test_config_keys(backend: Backend) -> None:
    app = create_app(
        backend,
        AgentSessions(),
        AGENTSESSION_HEADER="X-Conversation",
        AGENTSESSION_COOKIE_NAME="chat",
        AGENTSESSION_COOKIE_SAMESITE="strict",
        AGENTSESSION_COOKIE_PATH="/api",
        AGENTSESSION_MAX_AGE=600,
        AGENTSESSION_MAX_MESSAGES=1,
    )
    try:
        client = app.test_client()
        reply = client.post("/chat")
        session_id = reply.headers["X-Conversation"]
        cookie = reply.headers["Set-Cookie"]
        assert cookie.startswith(f"chat={session_id}.")
        assert cookie.endswith("; Max-Age=600; Path=/api; HttpOnly; SameSite=Strict")
        again = app.test_client().post("/chat", headers={"X-Conversation": session_id})
        assert again.status_code == 422  # AGENTSESSION_MAX_MESSAGES
        assert again.get_json()["error"] == "limit_exceeded"
    finally:
        app.extensions["agentsession"].close()


def test_secret_key_fallbacks(backend: Backend) -> None:
    old = create_app(backend, AgentSessions(), SECRET_KEY=OLD_KEY)
    client = old.test_client()
    client.post("/chat")
    old.extensions["agentsession"].close()
    rotated = create_app(backend, AgentSessions(), SECRET_KEY_FALLBACKS=[OLD_KEY])
    try:
        cookie = client.get_cookie("agentsession")
        assert cookie is not None
        fresh = rotated.test_client()
        fresh.set_cookie("agentsession", cookie.value)
        assert fresh.post("/chat").get_json()["count"] == 2
    finally:
        rotated.extensions["agentsession"].close()


def test_no_secret_key_means_header_only(backend: Backend) -> None:
    with pytest.warns(CookiesDisabledWarning, match="no secret key"):
        app = create_app(backend, AgentSessions(), SECRET_KEY=None)
    try:
        reply = app.test_client().post("/chat")
        assert "Set-Cookie" not in reply.headers and reply.headers["X-Session-ID"]
    finally:
        app.extensions["agentsession"].close()


def test_context_inside_the_view_and_cleared_after(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/chat").get_json() == {"count": 1, "same": True}
    with pytest.raises(NoSessionInContext):
        current_session()  # the test client ran the app in this very context


def test_streamed_body_keeps_the_session(app: Flask) -> None:
    client = app.test_client()
    client.post("/chat")
    assert client.get("/stream").get_data(as_text=True) == "a;same=True;count=1"
    with pytest.raises(NoSessionInContext):
        current_session()


def test_disabled(backend: Backend) -> None:
    app = create_app(backend, AgentSessions(), AGENTSESSION_ENABLED=False)

    @app.get("/plain")
    def plain() -> Any:
        return {"has": "agent_session" in g}

    reply = app.test_client().get("/plain", headers={"X-Session-ID": "../x"})
    assert reply.get_json() == {"has": False} and "Vary" not in reply.headers
    with app.test_request_context(), pytest.raises(RuntimeError):
        current_agent_session.exists  # noqa: B018


class _User(UserMixin):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self.id = name


def test_flask_login_user_by_default(backend: Backend) -> None:
    app = create_app(backend, AgentSessions())
    LoginManager(app).user_loader(_User)

    @app.post("/login/<name>")
    def login(name: str) -> Any:
        login_user(_User(name))
        return {}

    try:
        client = app.test_client()
        anonymous = client.post("/chat").headers["X-Session-ID"]
        assert backend.owner(anonymous) is None
        client.post("/login/alice")
        # The anonymous cookie is not adopted at login (claim_anonymous is off)...
        owned = client.post("/chat")
        assert owned.get_json()["count"] == 1
        alice = owned.headers["X-Session-ID"]
        assert alice != anonymous and backend.owner(alice) == "alice"
    finally:
        app.extensions["agentsession"].close()


def test_prune_command(app: Flask, backend: Backend) -> None:
    with backend.manager() as manager:
        manager.create("chat", ttl=timedelta(milliseconds=1))
        manager.create("chat")
    time.sleep(0.01)
    result = app.test_cli_runner().invoke(args=["agentsession", "prune"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "pruned 1 session(s)"
    assert backend.session_count() == 1


def test_prune_command_retention_options(app: Flask, backend: Backend) -> None:
    with backend.manager() as manager:
        for _ in range(3):
            manager.create("chat", user_id="ann")
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["agentsession", "prune", "--keep-newest", "1", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.strip() == "would prune 2 session(s)" and backend.session_count() == 3
    done = runner.invoke(args=["agentsession", "prune", "--keep-newest", "1"])
    assert done.output.strip() == "pruned 2 session(s)" and backend.session_count() == 1
    bad = runner.invoke(args=["agentsession", "prune", "--older-than", "-3d"])
    assert bad.exit_code == 2 and "positive" in bad.output


def test_cookie_httponly_and_salt_config(backend: Backend) -> None:
    app = create_app(
        backend,
        AgentSessions(),
        AGENTSESSION_COOKIE_HTTPONLY=False,
        AGENTSESSION_COOKIE_SALT="chat.cookie",
    )
    try:
        client = app.test_client()
        reply = client.post("/chat")
        session_id = reply.headers["X-Session-ID"]
        cookie = reply.headers["Set-Cookie"]
        assert "HttpOnly" not in cookie and cookie.endswith("; Path=/; SameSite=Lax")
        value = cookie.split(";", 1)[0].partition("=")[2]
        assert TimestampSigner(KEY, salt="chat.cookie").unsign(value).decode() == session_id
        assert client.post("/chat").get_json()["count"] == 2  # read back with its salt
        # A cookie signed under the default salt is not ours here: ignored, cleared.
        client.set_cookie("agentsession", forge_cookie(session_id, salt=DEFAULT_SALT))
        refused = client.post("/chat")
        assert refused.get_json()["count"] == 1
        assert refused.headers["X-Session-ID"] != session_id
    finally:
        app.extensions["agentsession"].close()


def test_defaults_keep_httponly_and_the_default_salt(app: Flask) -> None:
    reply = app.test_client().post("/chat")
    value = reply.headers["Set-Cookie"].split(";", 1)[0].partition("=")[2]
    assert "; HttpOnly;" in reply.headers["Set-Cookie"]
    assert (
        TimestampSigner(KEY, salt=DEFAULT_SALT).unsign(value).decode()
        == reply.headers["X-Session-ID"]
    )


@needs_sqlite
def test_close_never_closes_a_store_object_passed_in(backend: Backend) -> None:
    store = open_store(backend.url)
    try:
        by_argument = create_app(backend, AgentSessions(store=store))
        by_config = create_app(backend, AgentSessions(), AGENTSESSION_STORE=store)
        for app in (by_argument, by_config):
            assert app.test_client().post("/chat").status_code == 200
            app.extensions["agentsession"].close()  # what the atexit hook calls
        # Both apps wrote through the caller's store, which is still open.
        assert len(SessionManager(store).list()) == 2
    finally:
        store.close()


@needs_sqlite
def test_close_closes_the_store_opened_from_a_url(app: Flask) -> None:
    app.test_client().post("/chat")
    sessions = app.extensions["agentsession"]
    store = sessions.manager.store
    sessions.close()
    with pytest.raises(StoreClosed):
        store.get_session("any-session-id-00", now=datetime.now(UTC))
    assert app.test_client().post("/chat").status_code == 200  # reopened on next use


def test_session_manager_is_the_current_apps(backend: Backend, tmp_path: Path) -> None:
    other = Backend.create(tmp_path / "other")
    (tmp_path / "other").mkdir()
    extension = AgentSessions()
    first = create_app(backend, extension)
    second = create_app(other, extension)
    try:
        with first.app_context():
            session_manager().create("default", user_id="alice")
            assert session_manager() is first.extensions["agentsession"].manager
        with second.app_context():
            assert session_manager().list() == []
        assert (backend.session_count(), other.session_count()) == (1, 0)
        bare = Flask(__name__)
        with bare.app_context(), pytest.raises(RuntimeError, match="init_app"):
            session_manager()
    finally:
        first.extensions["agentsession"].close()
        second.extensions["agentsession"].close()


def test_an_int_user_id_is_its_string_and_a_bool_is_refused(backend: Backend) -> None:
    app = create_app(backend, AgentSessions(get_user_id=lambda request: 42))
    try:
        reply = app.test_client().post("/chat")
        assert reply.status_code == 200, reply.data
        with backend.manager() as manager:
            assert manager.get(reply.headers["X-Session-ID"]).user_id == "42"
    finally:
        app.extensions["agentsession"].close()
    broken = create_app(backend, AgentSessions(get_user_id=lambda request: True))
    broken.config["PROPAGATE_EXCEPTIONS"] = True
    try:
        with pytest.raises(TypeError, match="get_user_id must return"):
            broken.test_client().post("/chat")
    finally:
        broken.extensions["agentsession"].close()


def test_audit_events_carry_the_request(backend: Backend) -> None:
    events: list[Any] = []
    app = create_app(backend, AgentSessions(), AGENTSESSION_AUDIT=events.append)
    try:
        client = app.test_client()
        first = client.post("/chat", environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert first.status_code == 200
        client.post("/chat", headers={"X-Session-ID": first.headers["X-Session-ID"]})
        assert [(e.action, e.outcome) for e in events] == [
            ("create", "ok"),
            ("append", "ok"),
            ("append", "ok"),
        ]
        assert events[0].detail == {"method": "POST", "path": "/chat", "remote": "203.0.113.7"}
        assert events[2].detail["remote"] == "127.0.0.1"
    finally:
        app.extensions["agentsession"].close()
