"""The scripts in example_projects/agents/, run as a user runs them (a new
process each time, the offline model, a SQLite store): the second run
remembers the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agents.conftest import need

ROOT = Path(__file__).resolve().parents[2]

SCRIPTS = [
    (
        "runtime_chat",
        None,
        "Nice to meet you. I will remember 'one'.",
        "You said 1 thing(s) before this; the first was 'one'.",
    ),
    (
        "openai_agents_chat",
        ("agents", "openai-agents"),
        "I have 0 earlier item(s).",
        "I have 2 earlier item(s).",
    ),
    (
        "langchain_chat",
        ("langchain_core", "langchain"),
        "I have 0 earlier message(s).",
        "I have 2 earlier message(s).",
    ),
    (
        "pydantic_ai_chat",
        ("pydantic_ai", "pydantic-ai"),
        "I have 0 earlier message(s).",
        "I have 2 earlier message(s).",
    ),
]


@pytest.mark.parametrize(("script", "framework", "first", "second"), SCRIPTS)
def test_a_script_resumes_its_conversation(
    tmp_path: Path, script: str, framework: tuple[str, str] | None, first: str, second: str
) -> None:
    if framework is not None:
        need(*framework)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(AGENTSESSION_STORE_URL=f"sqlite:///{tmp_path / 'agents.db'}", PYTHONPATH=str(ROOT))
    outputs = []
    for text in ("one", "two"):
        done = subprocess.run(
            [sys.executable, "-m", f"example_projects.agents.{script}", text],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.strip())
    assert outputs == [first, second]
