"""The README opens with the two commands a newcomer runs; CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _opening_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "the README opens with a sh block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_opens_with_the_demo_and_the_tests() -> None:
    demo, tests = _opening_commands()
    assert demo.startswith("python3 -m venv .venv && ")
    assert "example_projects/run_demo.py" in demo and ".[demo]" in demo
    assert tests.startswith("python3 -m venv .venv && ")
    assert tests.endswith("tox")


def test_ci_runs_the_readmes_test_command() -> None:
    _, tests = _opening_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
