"""Django settings of the integration tests (and of the real-server test).

The database is a SQLite file (threads need one) in ``AGENTSESSION_DJANGO_DIR``;
a second alias, ``pg``, points at the PostgreSQL test server when
``AGENTSESSION_DJANGO_PG`` is set (the conftest sets it, to a suffix unique
to the test run, when the server answers).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from tests.services import POSTGRES_DSN

BASE = Path(os.environ.get("AGENTSESSION_DJANGO_DIR") or tempfile.gettempdir())

SECRET_KEY = "agentsession-tests-newest-key"
SECRET_KEY_FALLBACKS = ["agentsession-tests-older-key"]
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.integrations.django.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "agentsession.integrations.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "agentsession.integrations.django.AgentSessionMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_SQLITE = str(BASE / "agentsession-django.sqlite3")
DATABASES: dict[str, dict[str, object]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _SQLITE,
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        "TEST": {"NAME": str(BASE / "agentsession-django-test.sqlite3")},
    }
}
# Never queried: the system checks judge an ORM store placed here (no IMMEDIATE).
DATABASES["plain"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE / "plain.sqlite3")}
if os.environ.get("AGENTSESSION_DJANGO_PG"):
    _pg = urlsplit(POSTGRES_DSN)
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "agentsession_django",
        "USER": _pg.username or "postgres",
        "PASSWORD": _pg.password or "",
        "HOST": _pg.hostname or "127.0.0.1",
        "PORT": _pg.port or 5432,
        # One test database per test run: several runs may share the server.
        "TEST": {"NAME": "test_agentsession_django_" + os.environ["AGENTSESSION_DJANGO_PG"]},
    }

# Error reports hide the session header and cookie too (check agentsession.W008).
DEFAULT_EXCEPTION_REPORTER_FILTER = (
    "agentsession.integrations.django.debug.SafeExceptionReporterFilter"
)

AGENTSESSION = {
    "STORE": os.environ.get("AGENTSESSION_DJANGO_STORE", "django"),
    "AGENT": "assistant",
}
