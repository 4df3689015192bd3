"""pytest-django for this directory only: the settings module is chosen here,
not in pyproject, so the rest of the suite never needs Django.

``pytest_configure`` of a conftest runs whether the directory is the one
given on the command line (before pytest-django's own ``pytest_configure``) or
is reached while collecting ``pytest tests`` (after it); either way Django is
set up here before any test of this directory is collected.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

import pytest

from tests.services import POSTGRES_DSN, postgres_dsn, services_required

from .web import COMBINATIONS, Web

if TYPE_CHECKING:
    from django.test import AsyncClient, Client

    from .ormstore import CountingStore

SETTINGS = "tests.integrations.django.settings"


def _postgres_answers() -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(POSTGRES_DSN)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    directory = tempfile.mkdtemp(prefix="agentsession-django-")
    config.stash[_DIR] = directory
    os.environ["AGENTSESSION_DJANGO_DIR"] = directory
    # Under CI an unreachable server must fail its tests, not vanish from them.
    if services_required() or _postgres_answers():
        os.environ["AGENTSESSION_DJANGO_PG"] = str(os.getpid())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)

    import django

    django.setup()


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_DIR, None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


_DIR = pytest.StashKey[str]()


@pytest.fixture(params=["default", "pg"])
def using(request: pytest.FixtureRequest) -> str:
    """A database alias to run the ORM store on (``pg`` skips, or fails under
    CI, when the PostgreSQL test server is down)."""
    if request.param == "pg":
        postgres_dsn()
    return str(request.param)


@pytest.fixture(params=COMBINATIONS, ids=["-".join(c) for c in COMBINATIONS])
def web(request: pytest.FixtureRequest, client: Client, async_client: AsyncClient, db: None) -> Web:
    """Requests to the sync or async views through the WSGI or ASGI handler."""
    server, view = request.param
    return Web(server, view, client, async_client)


@pytest.fixture
def counting_store(settings: Any, db: None) -> CountingStore:
    """The app's store for this test: the ORM store, counting its calls."""
    from .ormstore import CountingStore

    store = CountingStore()
    settings.AGENTSESSION = {**settings.AGENTSESSION, "STORE": store}
    return store
