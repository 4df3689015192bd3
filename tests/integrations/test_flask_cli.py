"""``flask agentsession <command>``: the command line on the app's store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the flask extra is not installed")
pytest.importorskip("click", reason="the cli extra is not installed (pip install -e '.[cli]')")
pytest.importorskip("rich", reason="the cli extra is not installed (pip install -e '.[cli]')")

from flask import Flask

from agentsession.integrations.flask import AgentSessions
from tests.core.cli.seed import seed

APP = """
from flask import Flask
from agentsession.integrations.flask import AgentSessions

app = Flask(__name__)
app.config.update(SECRET_KEY="a-test-key-0123456789-abcdefghij", AGENTSESSION_STORE={url!r})
AgentSessions(app)
"""


def make_app(url: str) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="a-test-key-0123456789-abcdefghij", AGENTSESSION_STORE=url)
    AgentSessions(app)
    return app


def test_the_commands_use_the_apps_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    ids = seed(url)
    app = make_app(url)
    try:
        runner = app.test_cli_runner()
        listed = runner.invoke(args=["agentsession", "ls", "--json"])
        assert listed.exit_code == 0, listed.output
        assert sorted(r["id"] for r in json.loads(listed.output)) == sorted(ids.values())
        shown = runner.invoke(args=["agentsession", "show", ids["alice"], "--json"])
        assert json.loads(shown.output)["state"] == {"step": 2}
        verified = runner.invoke(args=["agentsession", "verify", "--json"])
        assert json.loads(verified.output)["ok"] is True
        doctor = runner.invoke(args=["agentsession", "doctor", "--json"])
        checks = {c["check"]: c for c in json.loads(doctor.output)["checks"]}
        assert checks["config"]["detail"] == "the app's settings"
        assert checks["store"]["status"] == "ok" and checks["schema"]["status"] == "ok"
        missing = runner.invoke(args=["agentsession", "show", "A" * 22])
        assert missing.exit_code == 1
        # The app's own prune is kept as it was.
        pruned = runner.invoke(args=["agentsession", "prune", "--dry-run"])
        assert pruned.output.strip() == "would prune 0 session(s)"
        # The app's manager is still open after the commands ran.
        assert len(app.extensions["agentsession"].manager.list()) == 3
    finally:
        app.extensions["agentsession"].close()


def test_flask_agentsession_in_a_shell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    ids = seed(url)
    (tmp_path / "chatapp.py").write_text(APP.format(url=url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSESSION_")}
    flask = Path(sys.executable).parent / "flask"
    result = subprocess.run(
        [str(flask), "--app", "chatapp", "agentsession", "stats", "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["sessions"] == len(ids)
