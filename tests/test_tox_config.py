"""The README's test command cannot pass by skipping.

On a machine with one Python, ``tox`` must still run tests (no env the
default run needs pins an interpreter other than the one tox runs on, except
the version-named matrix envs), and under ``CI=true`` an env whose
interpreter is missing fails the run. An editable install made the README's
way gives type checkers the package.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tox() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    return config


def test_only_version_named_envs_need_a_particular_python() -> None:
    config = _tox()
    envs = [e.strip() for e in config["tox"]["envlist"].split(",")]
    assert "core" in envs
    for section in config.sections():
        if section.startswith("testenv:") and "base_python" in config[section]:
            pytest.fail(f"[{section}] pins base_python: it would be skipped where that is missing")
    # The envs that do need a version carry it in their name, so tox's summary
    # says which one could not run.
    assert [e for e in envs if e not in {"lint", "type", "docs", "core"}] == [
        e for e in envs if re.match(r"py3\d+-", e)
    ]


@pytest.mark.slow
def test_under_ci_a_missing_interpreter_fails_and_elsewhere_it_is_named(tmp_path: Path) -> None:
    tox = shutil.which("tox", path=str(Path(sys.executable).parent))
    if tox is None:
        pytest.skip("tox is not installed in this environment")
    for name in ("tox.ini", "toxfile.py", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOX_", "CI", "AGENTSESSION_REQUIRE"))
    }

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tox, "-e", "py399", "--notest"],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    relaxed = run()
    assert "py399: SKIP" in relaxed.stdout, relaxed.stdout
    strict = run(CI="true")
    assert strict.returncode != 0 and "py399: FAIL" in strict.stdout, strict.stdout


@pytest.mark.slow
def test_the_readmes_editable_install_is_seen_by_mypy(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(
        r"pip install (--config-settings editable_mode=\w+) -e '\.\[\w+\]'", readme
    )
    assert len(commands) >= 2 and set(commands) == {"--config-settings editable_mode=strict"}
    source = tmp_path / "src"  # a copy: the install writes build/ beside the sources
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "docs"),
    )
    target = tmp_path / "env"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    install = [python, "-m", "pip", "install", "-q", "--no-deps", *commands[0].split()]
    subprocess.run([*install, "-e", str(source)], check=True, timeout=300, cwd=tmp_path)
    user = tmp_path / "user.py"
    user.write_text(
        "from agentsession import SessionManager\n"
        "from agentsession.stores import SQLiteStore\n"
        "manager = SessionManager(SQLiteStore('x.db'))\n"
        "reveal_type(manager.create)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--python-executable", str(python), str(user)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert "Cannot find implementation" not in result.stdout, result.stdout
    assert "def (agent: str," in result.stdout, result.stdout
