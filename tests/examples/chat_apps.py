"""The three chat examples behind one interface, for tests that run against all of them.

Each app is driven through its framework's own test client. Cookies are kept by
:class:`Browser`, not by the test client, so one browser can outlive a server
restart and two browsers (two users) can share one app.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Protocol

from agentsession import SessionInfo, SessionManager

KEY = "example-tests-secret-key-0123456789abcdef"
FRAMEWORKS = ("starlette", "flask", "django")


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


class Transport(Protocol):
    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply: ...


@dataclass
class Browser:
    """One user agent: a cookie jar and the app it talks to."""

    app: ExampleApp
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        session_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        if session_id is not None:
            sent["X-Session-ID"] = session_id
        if method != "GET" and "csrftoken" in self.cookies:  # as chat.js does, for Django
            sent.setdefault("X-CSRFToken", self.cookies["csrftoken"])
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        reply = self.app.transport.send(method, path, body, sent)
        for line in reply.set_cookies():
            self._remember(line)
        return reply

    def _remember(self, line: str) -> None:
        name, _, rest = line.partition("=")
        value, *attributes = rest.split(";")
        lowered = [a.strip().lower() for a in attributes]
        gone = "max-age=0" in lowered or any(
            a.startswith("expires=thu, 01 jan 1970") for a in lowered
        )
        if gone or not value.strip('"'):
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = value

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, {} if json_body is None else json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)

    # -- the demo's API -----------------------------------------------------

    def login(self, user: str) -> None:
        assert self.post("/api/login", {"user": user}).status == 200

    def say(self, content: str, **kwargs: Any) -> str:
        reply = self.post("/api/messages", {"content": content}, **kwargs)
        assert reply.status == 200, reply.body
        text: str = reply.json()["reply"]["content"]
        return text

    def messages(self, **kwargs: Any) -> list[tuple[str, str]]:
        reply = self.get("/api/messages", **kwargs)
        assert reply.status == 200, reply.body
        return [(m["role"], m["content"]) for m in reply.json()["messages"]]

    def sessions(self) -> list[dict[str, Any]]:
        reply = self.get("/api/sessions")
        assert reply.status == 200, reply.body
        rows: list[dict[str, Any]] = reply.json()["sessions"]
        return rows


class ExampleApp:
    """One example app on one store file; :meth:`restart` starts it afresh."""

    transport: Transport

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url

    def browser(self) -> Browser:
        """A browser that has opened the page (which sets Django's CSRF cookie)."""
        browser = Browser(self)
        assert browser.get("/").status == 200
        return browser

    def restart(self) -> None:
        self.stop()
        self.start()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def stored_sessions(self) -> list[SessionInfo]:
        """Every session in the store file, read by a separate manager."""
        with SessionManager(self.store_url) as manager:
            return manager.list(limit=1000)


# -- Starlette -------------------------------------------------------------------


class _StarletteTransport:
    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        response = self.client.request(method, path, content=body, headers=headers)
        self.client.cookies.clear()  # the Browser keeps the cookies
        return Reply(response.status_code, list(response.headers.multi_items()), response.content)


class StarletteApp(ExampleApp):
    def start(self) -> None:
        from starlette.testclient import TestClient

        from example_projects.shared.agent import RememberingAgent
        from example_projects.starlette_chat import create_app

        app = create_app(self.store_url, agent=RememberingAgent(), secret_key=KEY)
        self._client = TestClient(app)
        self._client.__enter__()  # runs the lifespan: the store opens
        self.transport = _StarletteTransport(self._client)

    def stop(self) -> None:
        self._client.__exit__(None, None, None)  # lifespan shutdown: the store closes


# -- Flask -------------------------------------------------------------------------


class _FlaskTransport:
    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        response = self.client.open(path, method=method, data=body, headers=headers)
        with response:  # closes a file body (send_static_file)
            return Reply(response.status_code, list(response.headers.items()), response.get_data())


class FlaskApp(ExampleApp):
    def start(self) -> None:
        from example_projects.flask_chat import create_app
        from example_projects.shared.agent import RememberingAgent

        self._app = create_app(self.store_url, agent=RememberingAgent(), secret_key=KEY)
        self._app.config["TESTING"] = True
        self.transport = _FlaskTransport(self._app.test_client(use_cookies=False))

    def stop(self) -> None:
        self._app.extensions["agentsession"].close()


# -- Django ------------------------------------------------------------------------

DJANGO_SETTINGS = "example_projects.django_chat.chatsite.settings"


class _DjangoTransport:
    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        extra = {k: v for k, v in headers.items() if k.lower() not in ("cookie", "content-type")}
        if "Cookie" in headers:
            self.client.cookies = SimpleCookie(headers["Cookie"])
        response = self.client.generic(
            method,
            path,
            data=body or b"",
            content_type=headers.get("Content-Type", "application/octet-stream"),
            headers=extra,
        )
        self.client.cookies = SimpleCookie()  # the Browser keeps the cookies
        pairs = [(k, v) for k, v in response.headers.items() if k.lower() != "set-cookie"]
        pairs += [("Set-Cookie", m.OutputString()) for m in response.cookies.values()]
        if response.streaming:  # FileResponse: the page and the static files
            content = b"".join(response.streaming_content)
            response.close()
        else:
            content = response.content
        return Reply(response.status_code, pairs, content)


class DjangoApp(ExampleApp):
    """The Django project, in this process.

    Django has one settings object per process. Alone, these tests set it up
    from the example's settings module; in a run that includes the
    integration tests (whose conftest sets Django up first), the example's
    settings are laid over theirs with ``override_settings``.
    """

    def start(self) -> None:
        import django
        from django.conf import settings
        from django.test import Client
        from django.test.utils import override_settings

        if not settings.configured:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", DJANGO_SETTINGS)
            django.setup()
        from example_projects.django_chat.chatsite import settings as example

        overrides = {
            name: getattr(example, name)
            for name in dir(example)
            if name.isupper() and name not in ("INSTALLED_APPS", "DATABASES")
        }
        overrides["SECRET_KEY"] = KEY
        overrides["SECRET_KEY_FALLBACKS"] = []
        overrides["AGENTSESSION"] = {**example.AGENTSESSION, "STORE": self.store_url}
        self._override = override_settings(**overrides)
        self._override.enable()
        from example_projects.django_chat.chat import views

        views.agent.cache_clear()  # made again from this environment
        # CSRF checked as in production (Client() alone skips it): see Browser.request.
        self.transport = _DjangoTransport(Client(enforce_csrf_checks=True))

    def stop(self) -> None:
        from agentsession.integrations.django.conf import agentsession_settings

        agentsession_settings.close()  # what process exit does: the store closes
        self._override.disable()


APPS: dict[str, type[ExampleApp]] = {
    "starlette": StarletteApp,
    "flask": FlaskApp,
    "django": DjangoApp,
}


def running(framework: str, directory: Path) -> Iterator[ExampleApp]:
    """Start ``framework``'s example on a SQLite file in ``directory``."""
    app = APPS[framework](f"sqlite:///{directory / 'chat.db'}")
    app.start()
    try:
        yield app
    finally:
        app.stop()
