"""The chat apps of ``web_apps`` behind real servers, and one HTTP scenario.

``python -m tests.integrations.web_servers starlette|flask DB_PATH PORT``
serves the app on 127.0.0.1:PORT with uvicorn (Starlette) or Werkzeug's
threaded server (Flask), on the SQLite file DB_PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from agentsession.testing import assert_one_chain

from .web_support import Backend, in_threads


def serve(framework: str, db: Path, port: int) -> None:
    backend = Backend(db, None)
    if framework == "starlette":
        import uvicorn

        from .web_apps import starlette_app

        uvicorn.run(starlette_app(backend), host="127.0.0.1", port=port, log_level="info")
    else:
        from werkzeug.serving import run_simple

        from .web_apps import flask_app

        run_simple("127.0.0.1", port, flask_app(backend), threaded=True)


def scenario(base_url: str, backend: Backend) -> list[str]:
    """A conversation over real HTTP; returns the session ids it saw."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as browser:
        first = browser.get("/messages")
        assert first.status_code == 200 and first.json()["messages"] == []
        assert "set-cookie" not in first.headers

        created = browser.post("/messages", json={"content": "hello"})
        session_id = created.headers["x-session-id"]
        assert created.headers["set-cookie"].startswith(f"agentsession={session_id}.")
        assert created.headers["vary"] == "Cookie, X-Session-ID"
        assert created.headers["cache-control"] == "private"
        again = browser.post("/messages", json={"content": "again"})
        assert again.json()["messages"] == ["hello", "again"]
        assert "x-session-id" not in again.headers

    def post(content: str, session: str) -> httpx.Response:
        with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as api:
            return api.post(
                "/messages", json={"content": content}, headers={"X-Session-ID": session}
            )

    assert post("by header", session_id).json()["messages"] == ["hello", "again", "by header"]
    missing = post("x", "no-such-session-000")
    assert missing.status_code == 404
    assert missing.json() == {"error": "session_not_found", "message": "session not found"}
    assert post("x", "../etc/passwd").status_code == 400

    def writer(n: int) -> None:
        for i in range(5):
            reply = post(f"{n}-{i}", session_id)
            assert reply.status_code == 200, reply.text

    in_threads(20, writer)
    assert_one_chain(backend.entries(session_id), 3 + 20 * 5)
    return [session_id]


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
