"""``example_projects/basic.py``: its steps in order, a restart within the run, and a
second run that finds the conversation."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_basic(store_url: str, *args: str) -> str:
    env = {**os.environ, "AGENTSESSION_STORE_URL": store_url}
    done = subprocess.run(
        [sys.executable, str(ROOT / "example_projects" / "basic.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_basic_script_resumes_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'basic.db'}"
    first = run_basic(url)
    steps = [line for line in first.splitlines() if line.startswith("== ")]
    assert [s.split(".")[0] for s in steps] == [f"== {n}" for n in range(1, 8)]
    assert "New session for 'alice'" in first
    assert "Restored 'before the detour': 4 messages, the detour is gone" in first
    assert "* current branch" in first
    assert "state = {'mood': 'curious'}" in first
    assert "(written through current_session())" in first

    # Step 7: a new manager on the same file finds the whole history and state.
    _, restarted = first.split("== 7. Restart")
    assert "Found it again: 7 messages, state = {'mood': 'curious'}" in restarted
    shown = re.compile(r"\s+(user|assistant): .+")
    history = [line.strip() for line in restarted.splitlines() if shown.fullmatch(line)]
    assert history == [
        "user: Hi! My name is Alice.",
        "assistant: Nice to meet you, Alice.",
        "user: My favourite colour is green.",
        "assistant: Green it is.",
        "user: Let's talk about cats instead.",
        "assistant: Cats it is.",
        "assistant: (written through current_session())",
    ]

    second = run_basic(url)  # a new interpreter on the same file
    assert "Found it after a restart: 7 messages so far." in second
    assert "user: Hi! My name is Alice." in second
    assert "Appended one more: 8 messages now." in second

    fresh = run_basic(url, "--fresh")
    assert "New session for 'alice'" in fresh


def test_the_demo_names_demo_port_when_its_port_is_busy(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(root / "example_projects" / "run_demo.py")],
            env={**os.environ, "DEMO_PORT": str(port), "AGENTSESSION_STORE_URL": "memory://"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "DEMO_PORT" in result.stderr and str(port) in result.stderr
    assert "http://" not in result.stdout  # no URL printed for a server that never started
