"""Errors that escape the view (``docs/design.md``, "Web layer"), and one 404 for every session id a
caller may not have: sync and async views, through WSGI and ASGI (``web``)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from agentsession.integrations.django import session_manager
from agentsession.integrations.django.models import StoredSession

from .test_middleware import new_session
from .web import COOKIE, HEADER, Web, body, stored_ids

NOT_FOUND = {"error": "session_not_found", "message": "session not found"}


def test_bad_message_data_is_422_and_creates_nothing(web: Web) -> None:
    response = web.request("post", "bad")
    assert response.status_code == 422
    assert body(response)["error"] == "invalid_input"
    assert response["Content-Type"] == "application/json"
    assert COOKIE not in response.cookies and HEADER not in response
    assert stored_ids() == set()


def test_bad_message_data_leaves_an_existing_session(web: Web) -> None:
    sid = new_session(web, "kept")
    assert web.request("post", "bad").status_code == 422
    assert body(web.get())["messages"] == ["kept"]
    assert StoredSession.objects.get(session_id=sid).message_count == 1


def test_limit_exceeded_is_422_and_stores_nothing_more(web: Web, settings: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "MAX_MESSAGES": 1}
    sid = new_session(web, "the only one")
    response = web.post("one too many")
    assert response.status_code == 422
    assert body(response)["error"] == "limit_exceeded"
    assert StoredSession.objects.get(session_id=sid).message_count == 1
    assert body(web.get())["messages"] == ["the only one"]


def test_integrity_error_is_500_and_one_log_line_without_the_id(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_session(web)
    caplog.set_level(logging.DEBUG)
    response = web.request("post", "integrity")
    assert response.status_code == 500
    assert body(response) == {
        "error": "integrity_error",
        "message": "stored history failed its integrity check",
    }
    ours = [r for r in caplog.records if r.name == "agentsession.integrations"]
    assert [(r.levelname, r.getMessage()) for r in ours] == [
        ("ERROR", "agentsession: IntegrityError (cause: -) -> 500")
    ]
    assert sid not in caplog.text
    assert sid not in response.content.decode()


# -- one 404 for every id the caller may not have ------------------------------------------

#: Headers that may differ between two otherwise identical responses.
VOLATILE = frozenset({"date", "server"})
REFUSED = [
    "unknown",
    "expired",
    "deleted",
    "other-agent",
    "foreign-owner",
    "anonymous-to-owned",
    "unowned-to-logged-in",
]


def _refused_id(case: str, alice: User, bob: User, web: Web) -> str:
    """A session id the caller may not have (logging ``web`` in as the case needs)."""
    manager = session_manager()
    if case == "unknown":
        return "no-such-session-0000"
    if case == "expired":
        sid = manager.create("assistant", ttl=timedelta(milliseconds=1)).id
        time.sleep(0.01)
        return sid
    if case == "deleted":
        sid = manager.create("assistant").id
        manager.delete(sid)
        return sid
    if case == "other-agent":
        return manager.create("helper").id
    if case == "unowned-to-logged-in":  # CLAIM_ANONYMOUS is off
        web.login(bob)
        return manager.create("assistant").id
    owned = manager.create("assistant", user_id=str(alice.pk)).id
    if case == "foreign-owner":
        web.login(bob)
    else:
        assert case == "anonymous-to-owned"
    return owned


def _as_compared(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k.lower(), v) for k, v in response.headers.items())
    return (
        response.status_code,
        response.content,
        [(k, v) for k, v in headers if k not in VOLATILE],
    )


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_refused_id_gets_the_same_404(web: Web, case: str, method: str) -> None:
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    sid = _refused_id(case, alice, bob, web)
    before = {s.session_id: s.message_count for s in StoredSession.objects.all()}
    content = "x" if method == "post" else None
    baseline = web.request(method, "chat", content=content, session_id="never-stored-0000")
    response = web.request(method, "chat", content=content, session_id=sid)
    assert response.status_code == 404 and body(response) == NOT_FOUND
    assert _as_compared(response) == _as_compared(baseline)
    assert HEADER not in response and COOKIE not in response.cookies
    # Nothing written, nothing adopted, nothing claimed.
    assert {s.session_id: s.message_count for s in StoredSession.objects.all()} == before


def test_audit_events_carry_the_request(web: Web, settings: Any) -> None:
    events: list[Any] = []
    settings.AGENTSESSION = {**settings.AGENTSESSION, "AUDIT": events.append}
    sid = new_session(web, "hello")
    assert web.get(session_id="no-such-session-0000").status_code == 404
    writes = [e for e in events if e.action != "get"]
    assert [(e.action, e.outcome) for e in writes] == [("create", "ok"), ("append", "ok")]
    assert all(e.session_id == sid for e in writes)
    (refused,) = [e for e in events if e.action == "get"]
    assert refused.outcome == "SessionNotFound"
    for event in events:
        assert event.detail["method"] in ("POST", "GET")
        assert event.detail["path"].startswith(f"/{web.view}/")
        assert event.detail["remote"] == "127.0.0.1"
        assert "hello" not in repr(event)
