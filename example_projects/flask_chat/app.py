"""The chat demo on Flask: the ``AgentSessions`` extension and sync views.

The extension gives every request ``g.agent_session``: the session named by the
``X-Session-ID`` header or the signed cookie, created on the first write and
owned by the user that ``get_user_id`` names (here: the demo login).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, session

from agentsession.integrations.flask import AgentSessions, session_manager

from ..shared import AGENT_NAME, STATIC_DIR, api, config
from ..shared.agent import Agent, make_agent

chat = Blueprint("chat", __name__)


def demo_user(_request: Any) -> str | None:
    """DEMO ONLY: whoever types a name is that user. Use real authentication
    (with Flask-Login installed and set up, leave ``get_user_id`` out)."""
    user = session.get("user")
    return str(user) if user else None


def _agent() -> Agent:
    agent: Agent = current_app.extensions["chat_agent"]
    return agent


def _body() -> Any:
    return api.parse_json(request.content_type, request.get_data())


@chat.get("/")
def page() -> Response:
    return current_app.send_static_file("index.html")


@chat.get("/api/me")
def me() -> Response:
    return jsonify(user=demo_user(request), agent=_agent().label)


@chat.post("/api/login")
def login() -> Response:
    session["user"] = api.read_user(_body())
    return jsonify(user=session["user"])


@chat.post("/api/logout")
def logout() -> Response:
    session.clear()
    return jsonify(user=None)


@chat.get("/api/messages")
def messages() -> Response:
    return jsonify(messages=[api.message_json(m) for m in g.agent_session.messages()])


@chat.post("/api/messages")
def send() -> Response:
    content = api.read_content(_body())
    s = g.agent_session
    # One turn: the message and the reply are written together (creating the session).
    turn = s.run(api.sync_turn(_agent().reply), content, on_conflict="append")
    if "title" not in s.metadata:
        s.update_metadata({"title": api.title_for(content)})
    return jsonify(api.turn_json(turn))


@chat.get("/api/checkpoints")
def checkpoints() -> Response:
    return jsonify(checkpoints=[api.checkpoint_json(p) for p in g.agent_session.checkpoints()])


@chat.post("/api/checkpoints")
def checkpoint() -> tuple[Response, int]:
    name = api.read_name(_body())
    s = g.agent_session
    point = s.checkpoint(name, {"message_count": len(s.messages())})
    return jsonify(checkpoint=api.checkpoint_json(point)), 201


@chat.post("/api/checkpoints/restore")
def restore() -> Response:
    s = g.agent_session
    point = s.restore(api.read_id(_body(), "checkpoint_id"))
    listed = [api.message_json(m) for m in s.messages()]
    return jsonify(checkpoint=api.checkpoint_json(point), messages=listed)


@chat.get("/api/branches")
def branches() -> Response:
    return jsonify(branches=api.branches_json(g.agent_session.branches()))


@chat.post("/api/branches/switch")
def switch() -> Response:
    s = g.agent_session
    s.switch(api.read_id(_body(), "entry_id"))
    return jsonify(messages=[api.message_json(m) for m in s.messages()])


@chat.get("/api/sessions")
def sessions() -> Response:
    current = g.agent_session.get()
    user = demo_user(request)
    if user is None:  # anonymous: only the session this browser holds
        mine = [current.info] if current is not None else []
    else:
        mine = session_manager().list(AGENT_NAME, user_id=user)
    current_id = current.id if current is not None else None
    return jsonify(sessions=[api.session_json(i, current_id) for i in mine])


@chat.post("/api/sessions")
def new_session() -> tuple[Response, int]:
    created = session_manager().create(AGENT_NAME, user_id=demo_user(request))
    return jsonify(session=api.session_json(created.info, created.id)), 201


@chat.delete("/api/session")
def delete_session() -> Response:
    return jsonify(deleted=g.agent_session.delete())


@chat.errorhandler(api.BadRequest)
def bad_request(exc: api.BadRequest) -> tuple[Response, int]:
    return jsonify(error="bad_request", message=str(exc)), 400


def create_app(
    store: str | None = None, *, agent: Agent | None = None, secret_key: str | None = None
) -> Flask:
    """The app; ``store`` is a store URL (default: ``shared.config.store_url()``)."""
    app = Flask(__name__, static_folder=STATIC_DIR, static_url_path="/static")
    app.config.update(
        SECRET_KEY=secret_key or config.secret_key(),  # signs the login and the session cookie
        SESSION_COOKIE_NAME="demo_login",
        SESSION_COOKIE_SAMESITE="Lax",  # Flask default: no attribute
        AGENTSESSION_STORE=store or config.store_url(),
        AGENTSESSION_AGENT=AGENT_NAME,
        AGENTSESSION_IDLE_TIMEOUT=config.IDLE_TIMEOUT.total_seconds(),
    )
    AgentSessions(app, get_user_id=demo_user)
    app.extensions["chat_agent"] = agent or make_agent()
    app.register_blueprint(chat)
    return app
