"""Many requests: nothing created on read, concurrent writers form one chain,
and session ids stay out of every log line."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from agentsession import SessionManager
from agentsession.integrations.django.models import StoredSession
from agentsession.integrations.django.store import DjangoStore
from agentsession.testing import assert_one_chain

from .web import COOKIE, HEADER, Web, body

CLIENTS = 20
APPENDS = 5


def test_thousand_anonymous_gets_create_nothing(web: Web, counting_store: Any) -> None:
    for _ in range(1000):
        response = web.get()
        assert response.status_code == 200
        assert body(response)["messages"] == []
        assert COOKIE not in response.cookies and HEADER not in response
    assert counting_store.calls == []
    assert StoredSession.objects.count() == 0


def _chain(manager: SessionManager, session_id: str) -> None:
    session = manager.get(session_id)
    messages = session.messages()
    assert_one_chain(messages, CLIENTS * APPENDS)
    assert {m.data["content"] for m in messages} == {
        f"client {c} message {n}" for c in range(CLIENTS) for n in range(APPENDS)
    }
    assert session.message_count == CLIENTS * APPENDS


@pytest.fixture(params=["orm", "sqlite-file"])
def app_store(
    request: pytest.FixtureRequest, settings: Any, tmp_path: Any
) -> Iterator[SessionManager]:
    """The app's store (the ORM store, or the SQLite store on a file), and a
    manager of the test's own on it to check the result."""
    if request.param == "orm":
        yield SessionManager(DjangoStore())
        return
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    settings.AGENTSESSION = {**settings.AGENTSESSION, "STORE": url}
    with SessionManager(url) as manager:
        yield manager


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["sync", "async"])
@pytest.mark.parametrize("via", ["header", "cookie"])
def test_concurrent_clients_append_to_one_chain(
    view: str, via: str, app_store: SessionManager
) -> None:
    first = Client().post(f"/{view}/chat", {"content": "seed"}, content_type="application/json")
    session_id = first[HEADER]
    cookie = first.cookies[COOKIE].value
    app_store.get(session_id).clear()  # the chain starts afresh
    errors: list[BaseException] = []
    barrier = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        try:
            browser = Client()
            headers = {HEADER: session_id} if via == "header" else {}
            if via == "cookie":
                browser.cookies[COOKIE] = cookie
            barrier.wait()
            for n in range(APPENDS):
                response = browser.post(
                    f"/{view}/chat",
                    {"content": f"client {number} message {n}"},
                    content_type="application/json",
                    headers=headers,
                )
                assert response.status_code == 200, response.content
                assert HEADER not in response  # the same session all along
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert [s.id for s in app_store.list()] == [session_id]
    _chain(app_store, session_id)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_concurrent_async_clients_append_to_one_chain() -> None:
    first = await AsyncClient().post(
        "/async/chat", {"content": "seed"}, content_type="application/json"
    )
    session_id = first[HEADER]

    async def client(number: int) -> None:
        browser = AsyncClient()
        for n in range(APPENDS):
            response = await browser.post(
                "/async/chat",
                {"content": f"client {number} message {n}"},
                content_type="application/json",
                headers={HEADER: session_id},
            )
            assert response.status_code == 200, response.content

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))

    def check() -> None:
        session = SessionManager(DjangoStore()).get(session_id)
        messages = session.messages()
        assert_one_chain(messages, CLIENTS * APPENDS + 1)
        assert len({m.data["content"] for m in messages}) == CLIENTS * APPENDS + 1

    await sync_to_async(check)()


def test_session_ids_appear_in_no_log_line(
    web: Web, caplog: pytest.LogCaptureFixture, settings: Any, django_user_model: Any, tmp_path: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.AGENTSESSION = {**settings.AGENTSESSION, "CLAIM_ANONYMOUS": True}
    responses = []
    created = web.post("first")
    responses.append(created)
    ids = {created[HEADER]}
    responses.append(web.get(session_id=created[HEADER]))
    responses.append(web.get(session_id="unknown-but-well-formed-id"))
    web.login(django_user_model.objects.create_user("alice"))
    claimed = web.get()
    responses.append(claimed)
    ids.add(claimed[HEADER])
    responses.append(web.get(session_id=created[HEADER]))  # rotated away: 404
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings.AGENTSESSION = {**settings.AGENTSESSION, "STORE": f"sqlite:///{blocker}/x.db"}
    responses.append(web.get(session_id=claimed[HEADER]))  # store down: 503 and a log line
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 404, 503]
    assert len(ids) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert any("StoreUnavailable" in line for line in lines)
    for sid in ids | {"unknown-but-well-formed-id"}:
        assert not any(sid in line for line in lines)
        for response in responses:
            assert sid not in response.get("Location", "")
