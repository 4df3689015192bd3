"""The README opens with the two commands a newcomer runs; CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
    assert re.search(r"\.venv/bin/tox( p)?$", tests), tests


def test_ci_runs_the_readmes_test_command() -> None:
    _, tests = _opening_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def _block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None, heading
    return block.group(1)


@pytest.mark.parametrize("heading", ["## Use it", "### Lifetimes, pruning, moving sessions"])
def test_the_readmes_snippets_run(
    heading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTSESSION_DIR", str(tmp_path))
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    exec(compile(_block_after(heading), f"README {heading}", "exec"), {})
    assert list(tmp_path.glob("*.db")), "the snippet stored nothing"


def test_the_readmes_encryption_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography", reason="the crypto extra is not installed")
    from agentsession.sealed import KeyRing

    text = (ROOT / "README.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "SealedStore" in b]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTSESSION_KEYS", f"2026-12:{KeyRing.generate()}")
    scope: dict[str, object] = {}
    exec(compile("from agentsession import SessionManager\n" + snippet, "README", "exec"), scope)
    with scope["sessions"] as sessions:  # type: ignore[attr-defined]
        s = sessions.create("assistant")
        s.append({"role": "user", "content": "kept secret"})
    assert b"kept secret" not in (tmp_path / "sessions.db").read_bytes()
