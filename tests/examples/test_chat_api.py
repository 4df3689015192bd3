"""The chat examples' JSON API: the same tests against Starlette, Flask and Django.

Each runs the app through its framework's test client on a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from .chat_apps import FRAMEWORKS, Browser, DjangoApp, ExampleApp, running


@pytest.fixture(params=FRAMEWORKS)
def app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ExampleApp]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):  # the offline agent, always
        monkeypatch.delenv(name, raising=False)
    yield from running(str(request.param), tmp_path)


def test_the_agent_remembers_a_name_across_a_restart(app: ExampleApp) -> None:
    browser = app.browser()
    assert browser.say("What is my name?").startswith("I don't know your name")
    assert browser.say("My name is Alice.").startswith("Nice to meet you, Alice")

    app.restart()  # the store is closed, a new app opens the same file

    assert browser.say("What is my name?") == "Your name is Alice."
    assert [role for role, _ in browser.messages()] == ["user", "assistant"] * 3
    assert browser.messages()[2] == ("user", "My name is Alice.")


def test_reads_create_nothing(app: ExampleApp) -> None:
    browser = app.browser()
    for path in ("/api/messages", "/api/checkpoints", "/api/branches", "/api/sessions"):
        reply = browser.get(path)
        assert reply.status == 200
        assert reply.header("X-Session-ID") is None
    assert browser.get("/api/messages").json() == {"messages": []}
    assert browser.sessions() == []
    assert "agentsession" not in browser.cookies
    assert app.stored_sessions() == []


def test_the_first_message_creates_the_session_and_its_cookie(app: ExampleApp) -> None:
    browser = app.browser()
    reply = browser.post("/api/messages", {"content": "hello"})
    assert reply.status == 200
    body = reply.json()
    assert body["message"]["role"] == "user"
    assert body["message"]["content"] == "hello"
    assert body["reply"]["role"] == "assistant"
    session_id = reply.header("X-Session-ID")
    assert session_id
    assert "agentsession" in browser.cookies
    assert session_id not in browser.cookies["agentsession"].split(".")[1:]  # signed, not bare
    assert "Cookie" in (reply.header("Vary") or "")
    assert "private" in (reply.header("Cache-Control") or "")
    (stored,) = app.stored_sessions()
    assert stored.id == session_id
    assert stored.user_id is None
    assert stored.metadata["title"] == "hello"
    assert stored.message_count == 2


def test_checkpoint_restore_and_switch_branches(app: ExampleApp) -> None:
    browser = app.browser()
    browser.say("hello")
    made = browser.post("/api/checkpoints", {"name": "before the name"})
    assert made.status == 201
    point = made.json()["checkpoint"]
    assert (point["name"], point["message_count"]) == ("before the name", 2)
    browser.say("My name is Alice.")
    assert browser.say("What is my name?") == "Your name is Alice."
    later = browser.messages()
    assert len(later) == 6

    restored = browser.post("/api/checkpoints/restore", {"checkpoint_id": point["id"]})
    assert restored.status == 200
    assert len(restored.json()["messages"]) == 2
    assert browser.messages() == later[:2]
    # Its memory is the current branch: restored to before the name, it does not know it.
    assert browser.say("What is my name?").startswith("I don't know your name")

    branches = browser.get("/api/branches").json()["branches"]
    assert len(branches) == 2
    (old,) = [b for b in branches if not b["is_current"]]
    assert old["message_count"] == 6
    switched = browser.post("/api/branches/switch", {"entry_id": old["leaf_id"]})
    assert switched.status == 200
    assert browser.messages() == later
    assert browser.say("What is my name?") == "Your name is Alice."

    listed = browser.get("/api/checkpoints").json()["checkpoints"]
    assert [c["id"] for c in listed] == [point["id"]]


def test_an_unnamed_checkpoint_is_named_after_its_position(app: ExampleApp) -> None:
    browser = app.browser()
    browser.say("one")
    browser.say("two")
    point = browser.post("/api/checkpoints").json()["checkpoint"]
    assert point["name"] == "At message 4"


def test_list_start_and_delete_sessions(app: ExampleApp) -> None:
    browser = app.browser()
    browser.login("alice")
    browser.say("first conversation")
    (first,) = browser.sessions()
    assert first["current"] is True
    assert first["title"] == "first conversation"

    made = browser.post("/api/sessions")
    assert made.status == 201
    second = made.json()["session"]["id"]
    assert second != first["id"]
    browser.say("second conversation", session_id=second)
    assert browser.messages(session_id=second)[0] == ("user", "second conversation")
    assert browser.messages()[0] == ("user", "first conversation")  # the cookie's session
    assert {s["title"] for s in browser.sessions()} == {"first conversation", "second conversation"}

    # Deleting the cookie's session clears the cookie: the next message starts afresh.
    assert browser.delete("/api/session").json() == {"deleted": True}
    assert "agentsession" not in browser.cookies
    assert [s["id"] for s in browser.sessions()] == [second]
    assert browser.delete("/api/session").json() == {"deleted": False}

    deleted = browser.delete("/api/session", session_id=second)
    assert (deleted.status, deleted.json()) == (200, {"deleted": True})
    assert browser.get("/api/messages", session_id=second).status == 404
    assert browser.sessions() == []
    assert app.stored_sessions() == []


def test_deleting_a_header_session_keeps_the_cookie(app: ExampleApp) -> None:
    browser = app.browser()
    browser.say("kept")
    other = browser.post("/api/sessions").json()["session"]["id"]
    assert browser.delete("/api/session", session_id=other).json() == {"deleted": True}
    assert "agentsession" in browser.cookies
    assert browser.messages()[0] == ("user", "kept")


def test_two_users_cannot_see_each_others_sessions(app: ExampleApp) -> None:
    alice, bob = app.browser(), app.browser()
    alice.login("alice")
    bob.login("bob")
    alice.say("My name is Alice.")
    (theirs,) = alice.sessions()
    assert [s.user_id for s in app.stored_sessions()] == ["alice"]

    assert bob.sessions() == []
    assert bob.messages() == []
    assert bob.say("What is my name?").startswith("I don't know your name")
    assert len(bob.sessions()) == 1
    assert bob.sessions()[0]["id"] != theirs["id"]

    # Alice's id in Bob's header: the same 404 as an unknown id, for every route.
    unknown = bob.get("/api/messages", session_id="x" * 22)
    assert unknown.status == 404
    for method, path, body in [
        ("GET", "/api/messages", None),
        ("POST", "/api/messages", {"content": "hi"}),
        ("GET", "/api/checkpoints", None),
        ("POST", "/api/checkpoints", {}),
        ("GET", "/api/branches", None),
        ("DELETE", "/api/session", None),
    ]:
        reply = bob.request(method, path, body, session_id=theirs["id"])
        assert (reply.status, reply.body) == (404, unknown.body), (method, path)

    # Alice's cookie in Bob's browser is ignored and cleared.
    bob.cookies["agentsession"] = alice.cookies["agentsession"]
    assert bob.messages() == []
    assert "agentsession" not in bob.cookies

    # Anonymous with Alice's id: 404 too; logged out, her cookie shows nothing.
    anonymous = app.browser()
    assert anonymous.get("/api/messages", session_id=theirs["id"]).status == 404
    alice.post("/api/logout")
    assert alice.messages() == []
    alice.login("alice")
    assert alice.sessions()[0]["id"] == theirs["id"]
    assert alice.messages(session_id=theirs["id"])[0] == ("user", "My name is Alice.")


def test_an_anonymous_conversation_is_not_adopted_at_login(app: ExampleApp) -> None:
    browser = app.browser()
    browser.say("My name is Alice.")
    assert len(browser.sessions()) == 1
    browser.login("alice")
    assert browser.messages() == []
    assert browser.sessions() == []
    assert browser.get("/api/me").json()["user"] == "alice"


def test_bad_requests(app: ExampleApp) -> None:
    browser = app.browser()
    for body in ({}, {"content": ""}, {"content": 5}, {"content": "x" * 4001}, [1]):
        reply = browser.post("/api/messages", body)
        assert reply.status == 400, body
        assert reply.json()["error"] == "bad_request"
    as_form = {"Content-Type": "text/plain"}  # what a cross-site form could send
    form = browser.request("POST", "/api/messages", {"content": "hi"}, headers=as_form)
    assert form.status == 400
    assert (
        browser.request("POST", "/api/messages", headers={"Content-Type": "text/plain"}).status
        == 400
    )
    assert browser.post("/api/login", {"user": "no spaces"}).status == 400
    assert browser.get("/api/messages", session_id="../etc").status == 400
    assert app.stored_sessions() == []

    browser.say("hello")
    missing = browser.post("/api/checkpoints/restore", {"checkpoint_id": "nope"})
    assert (missing.status, missing.json()["error"]) == (404, "checkpoint_not_found")
    assert browser.post("/api/branches/switch", {"entry_id": "nope"}).status == 422
    assert browser.post("/api/branches/switch", {}).status == 400


def test_the_page_and_its_assets(app: ExampleApp) -> None:
    browser = app.browser()
    page = browser.get("/")
    assert page.status == 200
    assert (page.header("Content-Type") or "").startswith("text/html")
    assert b"agentsession" in page.body
    for asset, kind in (("/static/chat.js", "javascript"), ("/static/chat.css", "text/css")):
        reply = browser.get(asset)
        assert reply.status == 200
        assert kind in (reply.header("Content-Type") or "")
    assert browser.get("/api/me").json()["user"] is None


def test_login_and_logout(app: ExampleApp) -> None:
    browser = app.browser()
    browser.login("carol")
    me = browser.get("/api/me").json()
    assert me["user"] == "carol"
    assert "offline" in me["agent"]
    assert browser.post("/api/logout").json() == {"user": None}
    assert browser.get("/api/me").json()["user"] is None


def test_a_header_session_id_never_leaks_into_a_cookie(app: ExampleApp) -> None:
    browser = app.browser()
    browser.login("dave")
    made = browser.post("/api/sessions").json()["session"]["id"]
    reply = browser.post("/api/messages", {"content": "hi"}, session_id=made)
    assert reply.status == 200
    assert "agentsession" not in browser.cookies  # the header's session is not the cookie's
    assert browser.sessions()[0]["current"] is False


def test_a_post_without_the_page_csrf_token(app: ExampleApp) -> None:
    """What ``curl -X POST`` gets: Django's CSRF protection wants the page's token
    (a JSON 403, nothing stored); Starlette and Flask rely on SameSite cookies and
    JSON-only bodies instead."""
    script = Browser(app)  # never opened the page: no csrftoken cookie
    if not isinstance(app, DjangoApp):
        login = script.post("/api/login", {"user": "alice"})
        reply = script.post("/api/messages", {"content": "hi"})
        assert (login.status, reply.status) == (200, 200)
        cookies = login.set_cookies() + reply.set_cookies()
        assert {c.partition("=")[0] for c in cookies} == {"demo_login", "agentsession"}
        assert all("samesite=lax" in c.lower() for c in cookies), cookies
        return
    reply = script.post("/api/messages", {"content": "hi"})
    assert reply.status == 403
    assert (reply.header("Content-Type") or "").startswith("application/json")
    assert reply.json()["error"] == "csrf_failed"
    forged = app.browser().post(
        "/api/messages", {"content": "hi"}, headers={"X-CSRFToken": "x" * 32}
    )
    assert (forged.status, forged.json()["error"]) == (403, "csrf_failed")
    assert app.stored_sessions() == []


def test_a_conversation_nobody_continues_expires(app: ExampleApp) -> None:
    browser = app.browser()
    assert browser.post("/api/messages", {"content": "hello"}).status == 200
    (stored,) = app.stored_sessions()
    assert stored.idle_timeout == timedelta(days=30).total_seconds()
    assert stored.expires_at is not None
