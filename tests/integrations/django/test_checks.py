"""System checks: each fires on its misconfiguration and is silent otherwise."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from agentsession.integrations.django.checks import AUTH_MIDDLEWARE, MIDDLEWARE


def ids(*, deploy: bool = False) -> list[str]:
    found = checks.run_checks(include_deployment_checks=deploy)
    return sorted(m.id for m in found if m.id and m.id.startswith("agentsession."))


def configure(settings: Any, **values: Any) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, **values}


def test_the_test_settings_pass() -> None:
    assert ids() == []


def test_w001_no_secret_key(settings: Any) -> None:
    settings.SECRET_KEY = ""
    settings.SECRET_KEY_FALLBACKS = []
    assert ids() == ["agentsession.W001"]


def test_w002_cookie_not_secure_in_deploy_mode_only(settings: Any) -> None:
    assert ids() == []
    assert ids(deploy=True) == ["agentsession.W002"]
    configure(settings, COOKIE_SECURE=True)
    assert ids(deploy=True) == []


@pytest.mark.parametrize(
    "store",
    ["nosuch://x", "not a url", "django://no-such-alias"],
    ids=["unknown-scheme", "no-scheme", "unknown-database"],
)
def test_e003_store_cannot_be_opened(settings: Any, store: str) -> None:
    configure(settings, STORE=store)
    assert ids() == ["agentsession.E003"]


@pytest.mark.parametrize(
    "conf",
    [{"NO_SUCH_KEY": 1}, {"COOKIE_SAMESITE": "sideways"}, {"AGENT": "bad/agent"}, {"TTL": "1h"}],
    ids=["unknown-key", "samesite", "agent", "ttl"],
)
def test_e004_invalid_settings(settings: Any, conf: dict[str, Any]) -> None:
    configure(settings, **conf)
    assert ids() == ["agentsession.E004"]


def test_w005_orm_store_on_sqlite_without_immediate_transactions(settings: Any) -> None:
    configure(settings, STORE="django://plain")
    assert ids() == ["agentsession.W005"]


def test_e006_orm_store_needs_aware_datetimes(settings: Any) -> None:
    settings.USE_TZ = False
    assert ids() == ["agentsession.E006"]
    configure(settings, STORE="memory://")
    assert ids() == []


def test_w007_middleware_before_authentication(settings: Any) -> None:
    rest = [m for m in settings.MIDDLEWARE if m not in (MIDDLEWARE, AUTH_MIDDLEWARE)]
    settings.MIDDLEWARE = [*rest, MIDDLEWARE, AUTH_MIDDLEWARE]
    assert ids() == ["agentsession.W007"]


def test_manage_py_check_reports_them(settings: Any) -> None:
    configure(settings, STORE="nosuch://x")
    with pytest.raises(SystemCheckError, match=r"agentsession\.E003"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_migrations_match_the_models() -> None:
    # makemigrations --check, without a database (on every supported Django).
    loader = MigrationLoader(None, ignore_no_migrations=True)
    detector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps))
    changes = detector.changes(graph=loader.graph, trim_to_apps={"agentsession"})
    assert "agentsession" not in changes
