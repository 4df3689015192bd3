"""The ORM store before ``manage.py migrate``: a 503 whose log says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, sys
import django
from django.conf import settings
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "agentsession.integrations.django"],
    USE_TZ=True,
)
django.setup()
from datetime import UTC, datetime
from agentsession import StoreUnavailable
from agentsession.integrations._web import error_response
from agentsession.integrations.django import DjangoStore
try:
    DjangoStore().get_session("abc", now=datetime.now(UTC))
except StoreUnavailable as exc:
    logging.basicConfig(stream=sys.stdout, format="%(message)s")
    print(error_response(exc).status)
"""


def test_missing_tables_say_run_migrate(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "fresh.sqlite3")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "503" in result.stdout
    assert "run `manage.py migrate`" in result.stdout, result.stdout + result.stderr
    assert "fresh.sqlite3" not in result.stdout  # our words, not the driver's
