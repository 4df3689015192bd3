"""Who the caller is, under WSGI and ASGI alike: a ``request.user`` set by an
earlier middleware, and ``GET_USER_ID`` returning an int."""

from __future__ import annotations

from typing import Any

import pytest

from agentsession import SessionManager

from .web import Web, body

TOKEN_MIDDLEWARE = "tests.integrations.django.tokenauth.TokenAuthMiddleware"


@pytest.fixture
def token_auth(settings: Any) -> None:
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("agentsession.integrations.django.AgentSessionMiddleware"),
        TOKEN_MIDDLEWARE,
    )
    settings.MIDDLEWARE = middleware


def _owner(session_id: str) -> str | None:
    from agentsession.integrations.django import session_manager

    manager: SessionManager = session_manager()
    return manager.get(session_id).user_id


@pytest.mark.usefixtures("token_auth")
def test_a_user_set_by_an_earlier_middleware_owns_the_session(web: Web) -> None:
    alice = {"Authorization": "Token alice"}
    created = web.post("from alice", headers=alice)
    assert created.status_code == 200, created.content
    session_id = created.headers["X-Session-ID"]
    assert _owner(session_id) == "alice"
    # Anyone else holding the id gets the 404 of an unknown id.
    web.forget_cookies()
    stranger = web.get(session_id=session_id)
    unknown = web.get(session_id="x" * len(session_id))
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.content == unknown.content
    again = web.get(session_id=session_id, headers=alice)
    assert body(again)["messages"] == ["from alice"]


def _int_user(request: Any) -> int | None:
    header = request.headers.get("Authorization", "")
    return int(header.removeprefix("User ")) if header.startswith("User ") else None


def _bool_user(request: Any) -> bool:
    return True


def test_an_int_user_id_is_its_string(web: Web, settings: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "GET_USER_ID": _int_user}
    created = web.post("hi", headers={"Authorization": "User 42"})
    assert created.status_code == 200, created.content
    assert _owner(created.headers["X-Session-ID"]) == "42"


def test_a_user_id_of_another_type_is_a_server_error(web: Web, settings: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "GET_USER_ID": _bool_user}
    with pytest.raises(TypeError, match="get_user_id must return"):
        web.post("hi")
