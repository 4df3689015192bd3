"""The chat page in a real browser: headless Chromium (Debian's package) driven by
Playwright, against each demo started by ``run_demo.py`` as a real server (uvicorn
for Starlette, Werkzeug for Flask, ``runserver`` for Django: CSRF included).

Without Chromium or Playwright this skips with the reason; under ``CI=true`` it
fails instead. Screenshots go to ``$AGENTSESSION_SCREENSHOTS`` (default: the
test's temporary directory); the path is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import services_required

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    _missing("Chromium not found: apt-get install chromium (never a Playwright download)")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DemoServer:
    """``python example_projects/run_demo.py`` in a subprocess, on one SQLite file."""

    def __init__(self, framework: str, directory: Path) -> None:
        self.framework = framework
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DEMO_PORT": str(self.port),
            "DEMO_SECRET_KEY": "browser-test-key-0123456789abcdef",
            "AGENTSESSION_STORE_URL": f"sqlite:///{directory / 'chat.db'}",
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):  # the offline agent, always
            self.env.pop(name, None)
        # The Django tests' conftest sets this in os.environ; the demo must use its own.
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "example_projects" / "run_demo.py"), self.framework],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(self.url + "/api/me", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the demo did not start:\n{self.log.read_text()}")
        assert f"http://127.0.0.1:{self.port}" in self.log.read_text()  # the URL is printed

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


@pytest.fixture(params=["starlette", "flask", "django"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(str(request.param), tmp_path)
    try:
        demo.start()
        yield demo
    finally:
        demo.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright not installed: pip install agentsession[browser]")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    directory = Path(os.environ.get("AGENTSESSION_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():  # now, so a failing run shows where its screenshots went
        print(f"\nscreenshots: {directory}")
    return directory


def bubbles(page: Any) -> list[str]:
    texts: list[str] = page.locator("#messages .bubble").all_inner_texts()
    return texts


def say(page: Any, text: str, expect_reply: str | None = None) -> None:
    idle(page)
    count = page.locator("#messages .bubble").count()
    page.fill("#message-input", text)
    page.press("#message-input", "Enter")
    page.locator("#messages .bubble").nth(count + 1).wait_for()
    page.wait_for_function("() => !document.body.classList.contains('busy')")
    if expect_reply is not None:
        assert bubbles(page)[-1] == expect_reply


def login(page: Any, user: str) -> None:
    page.fill("#login-name", user)
    page.click("#login-form button[type=submit]")
    page.locator("#who strong", has_text=user).wait_for()
    idle(page)


def idle(page: Any) -> None:
    page.wait_for_function("() => !document.body.classList.contains('busy')")


def selected(page: Any) -> str | None:
    """The session opened from the list (sent in X-Session-ID), if any."""
    value: str | None = page.evaluate("() => sessionStorage.getItem('agentsession-demo.selected')")
    return value


def delete_session(page: Any, title: str) -> None:
    page.locator("#sessions li", has_text=title).locator(".delete").click()
    idle(page)


def test_the_chat_page_end_to_end(server: DemoServer, chromium: Any, screenshots: Path) -> None:
    alice_context = chromium.new_context(viewport=DESKTOP)
    alice = alice_context.new_page()
    alice.on("dialog", lambda dialog: dialog.accept())  # "Delete ...?"
    alice.goto(server.url)
    idle(alice)
    assert "Not logged in" in alice.inner_text("#who")
    assert "Demo login" in alice.inner_text("#demo-note")
    login(alice, "alice")

    # Two messages, a reload: the history is still there.
    say(alice, "Hello there")
    say(alice, "My name is Alice.", "Nice to meet you, Alice! Ask me later: I will remember.")
    alice.reload()
    idle(alice)
    assert bubbles(alice)[::2] == ["Hello there", "My name is Alice."]
    assert len(bubbles(alice)) == 4
    assert alice.is_disabled("#switch-branch")  # one branch, and we are at its tip

    # A server restart on the same file: still there, and the agent remembers.
    server.stop()
    server.start()
    alice.reload()
    idle(alice)
    assert len(bubbles(alice)) == 4
    say(alice, "What is my name?", "Your name is Alice.")

    # Checkpoint, go on, restore: the later messages leave the view ...
    alice.click("#checkpoint")
    alice.locator("#checkpoints li .restore").first.wait_for()
    idle(alice)
    say(alice, "My favourite colour is green.", "Got it: your favourite colour is green.")
    assert len(bubbles(alice)) == 8
    alice.click("#checkpoints li .restore")
    alice.wait_for_function("() => document.querySelectorAll('#messages .bubble').length === 6")
    idle(alice)
    assert "My favourite colour is green." not in bubbles(alice)
    assert alice.is_enabled("#switch-branch")  # back to the tip of the only branch
    say(alice, "What is my favourite colour?")
    assert bubbles(alice)[-1].startswith("I don't know your favourite colour")

    # ... and come back on switching to their branch.
    options = alice.locator("#branch-select option").all_inner_texts()
    assert len(options) == 2, options
    other = alice.locator("#branch-select option:not(:checked)").first.get_attribute("value")
    alice.select_option("#branch-select", other)
    alice.click("#switch-branch")
    alice.wait_for_function("() => document.querySelectorAll('#messages .bubble').length === 8")
    idle(alice)
    assert bubbles(alice)[-2:] == [
        "My favourite colour is green.",
        "Got it: your favourite colour is green.",
    ]
    assert alice.locator("#sessions li").count() == 1
    suffix = "" if server.framework == "starlette" else f"-{server.framework}"
    alice.screenshot(path=str(screenshots / f"screenshot-desktop{suffix}.png"))

    # The same conversation at phone width.
    phone_context = chromium.new_context(
        viewport=PHONE, storage_state=alice_context.storage_state(), is_mobile=True, has_touch=True
    )
    phone = phone_context.new_page()
    phone.goto(server.url)
    idle(phone)
    assert len(bubbles(phone)) == 8
    assert not phone.is_visible("#panel")  # the side panel folds away on a phone
    phone.click("#toggle-panel")  # a drawer over the conversation
    assert phone.is_visible("#sessions")
    assert phone.locator("#sessions li .open").count() == 1
    phone.click("#close-panel")
    assert not phone.is_visible("#panel")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    phone.screenshot(path=str(screenshots / f"screenshot-phone{suffix}.png"))

    # A session opened from the list goes in X-Session-ID. A 404 that is not about
    # the session (a checkpoint_not_found, injected here) keeps it open ...
    phone.on("dialog", lambda dialog: dialog.accept())
    alice.click("#new-session")
    idle(alice)
    say(alice, "A second conversation.")
    alice.click("#checkpoint")
    idle(alice)
    second = selected(alice)
    assert second
    gone = '{"error": "checkpoint_not_found", "message": "checkpoint not found"}'
    alice.route(
        "**/api/checkpoints/restore",
        lambda route: route.fulfill(status=404, content_type="application/json", body=gone),
        times=1,
    )
    alice.click("#checkpoints li .restore")
    idle(alice)
    assert "checkpoint not found" in alice.inner_text("#status")
    assert selected(alice) == second
    alice.reload()
    idle(alice)
    assert bubbles(alice)[0] == "A second conversation."

    # ... deleted elsewhere, deleting it here again deletes nothing else ...
    phone.reload()
    idle(phone)
    phone.click("#toggle-panel")
    delete_session(phone, "A second conversation.")
    delete_session(alice, "A second conversation.")  # the list here is stale
    assert selected(alice) is None
    assert len(bubbles(alice)) == 8  # the cookie's conversation, still there
    assert alice.locator("#sessions li .open").count() == 1

    # ... and a message to a session deleted elsewhere goes to the cookie's session.
    alice.click("#new-session")
    idle(alice)
    say(alice, "A third conversation.")
    phone.reload()
    idle(phone)
    phone.click("#toggle-panel")
    delete_session(phone, "A third conversation.")
    say(alice, "Back to the first one.")
    assert selected(alice) is None
    assert bubbles(alice)[0] == "Hello there"
    assert bubbles(alice)[-2] == "Back to the first one."

    # Another user in another browser context sees none of it.
    bob_context = chromium.new_context(viewport=DESKTOP)
    bob = bob_context.new_page()
    bob.goto(server.url)
    idle(bob)
    login(bob, "bob")
    idle(bob)
    assert bubbles(bob) == []
    assert bob.locator("#sessions li.empty-row").count() == 1
    assert bob.locator("#checkpoints li .restore").count() == 0
    say(bob, "What is my name?")
    assert bubbles(bob)[-1].startswith("I don't know your name")
    assert "Alice" not in bob.inner_text("body")
    assert bob.locator("#sessions li .open").count() == 1

    # Alice still has exactly her own session.
    alice.reload()
    idle(alice)
    assert alice.locator("#sessions li .open").count() == 1
    assert "What is my name?" in bubbles(alice)
    for context in (alice_context, phone_context, bob_context):
        context.close()
