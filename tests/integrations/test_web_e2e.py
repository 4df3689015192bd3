"""End to end over real HTTP: the Starlette chat app under uvicorn, the Flask
one under Werkzeug's threaded server, each in its own process."""

from __future__ import annotations

from pathlib import Path

import pytest

from .web_servers import scenario
from .web_support import HAVE_SQLITE, Backend, free_port, server_process

pytestmark = pytest.mark.skipif(not HAVE_SQLITE, reason="no SQLite store here")

# framework -> what its request log prints for the scenario's POSTs
SERVERS = {"starlette": "POST /messages", "flask": '"POST /messages HTTP/1.1"'}


@pytest.mark.parametrize("framework", sorted(SERVERS))
def test_real_server_round_trip(tmp_path: Path, framework: str) -> None:
    backend = Backend(tmp_path / "sessions.db", None)
    port = free_port()
    log = tmp_path / "server.log"
    args = ["-m", "tests.integrations.web_servers", framework, str(backend.path), str(port)]
    with server_process(args, port, log) as url:
        ids = scenario(url, backend)
    output = log.read_text()
    assert SERVERS[framework] in output  # the server's request log ran...
    for session_id in ids:  # ...and never saw a session id
        assert session_id not in output
