"""End to end: the test project under a real server process, over real HTTP.

``manage.py runserver`` (WSGI, threaded) and uvicorn (ASGI) serve the project
with the ORM store in a migrated SQLite file; the test speaks HTTP to them
with the standard library, keeping the cookie itself, and reads the server's
own log afterwards.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = "tests.integrations.django.settings"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSESSION_DJANGO")}
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        AGENTSESSION_DJANGO_DIR=str(directory),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(params=["runserver", "uvicorn"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """A migrated project served by a real server: (kind, port, log file)."""
    env = _environment(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    port = _free_port()
    if request.param == "runserver":
        command = ["-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"]
    else:
        command = ["-m", "uvicorn", "tests.integrations.django.asgi:application"]
        command += ["--port", str(port), "--lifespan", "off"]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(port, process, log)
        yield str(request.param), port, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"server did not start:\n{log.read_text()}")


class Browser:
    """Plain HTTP with a cookie jar of one cookie, like a browser would keep."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None

    def send(
        self,
        method: str,
        path: str,
        content: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        body = None
        if content is not None:
            body = json.dumps({"content": content}).encode()
            sent["Content-Type"] = "application/json"
        if self.cookie is not None:
            sent["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        received = {k.lower(): v for k, v in response.getheaders()}
        connection.close()
        set_cookie = received.get("set-cookie")
        if set_cookie is not None:
            self.cookie = set_cookie.split(";", 1)[0]
        return response.status, received, data


def test_conversation_over_real_http(server: tuple[str, int, Path]) -> None:
    kind, port, log = server
    browser = Browser(port)
    status, headers, data = browser.send("POST", "/sync/chat", "hello")
    assert status == 200, data
    session_id = headers["x-session-id"]
    flags = {part.strip().lower() for part in headers["set-cookie"].split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/", f"max-age={14 * 24 * 3600}"} <= flags
    assert "private" in headers["cache-control"]

    status, _, data = browser.send("POST", "/async/chat", "again")  # the cookie
    assert (status, json.loads(data)["messages"]) == (200, ["hello", "again"])

    stranger = Browser(port)
    status, headers, data = stranger.send("GET", "/sync/chat", headers={"X-Session-ID": session_id})
    assert json.loads(data)["messages"] == ["hello", "again"]
    status, _, data = stranger.send("GET", "/async/chat", headers={"X-Session-ID": "no-such-id"})
    assert (status, json.loads(data)["error"]) == (404, "session_not_found")
    status, _, data = stranger.send("GET", "/async/chat", headers={"X-Session-ID": "../x"})
    assert (status, json.loads(data)["error"]) == (400, "invalid_session_id")

    stream = "/sync/stream" if kind == "runserver" else "/async/stream"
    status, _, data = browser.send("GET", stream)
    assert (status, data) == (200, b'"hello"\n"again"\n')

    time.sleep(0.2)  # let the server flush its access log
    text = log.read_text()
    assert "/sync/chat" in text  # the access log is there, without the id
    assert session_id not in text
