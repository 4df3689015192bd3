"""``manage.py agentsession <command>``: the command line on the app's store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("click", reason="the cli extra is not installed (pip install -e '.[cli]')")
pytest.importorskip("rich", reason="the cli extra is not installed (pip install -e '.[cli]')")

from django.core.management import CommandError, call_command

from agentsession.integrations.django.models import StoredSession
from agentsession.integrations.django.store import DjangoStore
from tests.core.cli.seed import seed

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_the_commands_use_the_orm_store(capsys: pytest.CaptureFixture[str]) -> None:
    ids = seed(DjangoStore())
    call_command("agentsession", "ls", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["id"] for r in rows) == sorted(ids.values())
    call_command("agentsession", "show", ids["alice"], "--json")
    assert json.loads(capsys.readouterr().out)["state"] == {"step": 2}
    call_command("agentsession", "verify", "--json")
    assert json.loads(capsys.readouterr().out)["checked"] == 3
    call_command("agentsession", "prune", "--keep-newest", "1", "--per", "agent", "--json")
    assert json.loads(capsys.readouterr().out) == {"pruned": 1, "dry_run": False}
    assert StoredSession.objects.count() == 2
    with pytest.raises(CommandError) as caught:
        call_command("agentsession", "show", "A" * 22)
    assert caught.value.returncode == 1
    with pytest.raises(CommandError) as caught:
        call_command("agentsession", "no-such-command")
    assert caught.value.returncode == 2


def test_manage_py_agentsession_in_a_shell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    ids = seed(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSESSION_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.integrations.django.settings",
        AGENTSESSION_DJANGO_STORE=url,
        PYTHONPATH=str(ROOT),
    )
    manage = [sys.executable, "-m", "django", "agentsession"]
    result = subprocess.run(
        [*manage, "stats", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["sessions"] == len(ids)
    missing = subprocess.run(
        [*manage, "show", "A" * 22], capture_output=True, text=True, env=env, timeout=120
    )
    assert missing.returncode == 1 and "SessionNotFound" in missing.stderr
