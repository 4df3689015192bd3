"""A client that disconnects from a streamed turn, against a real uvicorn
server: the server cancels the stream and nothing of the turn is stored; a
client that reads to the end gets the turn recorded."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integrations.web_support import free_port, server_process

pytest.importorskip("uvicorn")


def test_a_disconnect_mid_stream_writes_nothing(tmp_path: Path) -> None:
    port = free_port()
    args = ["-m", "tests.agents.stream_app", str(tmp_path / "s.db"), str(port)]
    log = tmp_path / "server.log"
    with (
        server_process(args, port, log) as base,
        httpx.Client(base_url=base, trust_env=False, timeout=30) as client,
    ):
        with client.stream("POST", "/chat/left", content="hello") as response:
            first = next(response.iter_text())
            assert first.startswith("word0")
        # The connection is closed mid-stream; the agent would end within 2 s.
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            time.sleep(0.3)
            assert client.get("/chat/left").json() == []
        whole = client.post("/chat/stayed", content="hello")
        assert whole.text.startswith("word0 ") and whole.text.endswith("word39 ")
        assert client.get("/chat/stayed").json() == ["hello", whole.text]
    assert "Traceback" not in log.read_text()
