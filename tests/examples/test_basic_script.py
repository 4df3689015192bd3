"""``example_projects/basic.py``: it runs, and a second run finds the conversation."""

from __future__ import annotations

import os
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
    assert "New session for 'alice'" in first
    assert "Restored 'before the detour': 4 messages, the detour is gone" in first
    assert "* current branch" in first
    assert "state = {'mood': 'curious'}" in first
    assert "(written through current_session())" in first

    second = run_basic(url)  # a new interpreter on the same file
    assert "Found it after a restart: 7 messages so far." in second
    assert "user: Hi! My name is Alice." in second
    assert "Appended one more: 8 messages now." in second

    fresh = run_basic(url, "--fresh")
    assert "New session for 'alice'" in fresh
