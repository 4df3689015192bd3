"""Settings of the chat demo project.

Only what the demo needs: no database (the demo login lives in Django's
signed-cookie session), agentsession's app and middleware, and the
``AGENTSESSION`` settings dict.
"""

from __future__ import annotations

from example_projects.shared import AGENT_NAME, config

SECRET_KEY = config.secret_key()  # also signs the agentsession cookie
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "example_projects.django_chat.chatsite.urls"
WSGI_APPLICATION = "example_projects.django_chat.chatsite.wsgi.application"
USE_TZ = True

INSTALLED_APPS = [
    "agentsession.integrations.django",
    "example_projects.django_chat.chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A real project has django.contrib.auth's AuthenticationMiddleware here,
    # and agentsession then reads request.user (no GET_USER_ID needed).
    "agentsession.integrations.django.AgentSessionMiddleware",
]

# Django's CSRF protection stays on: the page sends the token (chat.js), and a
# failure is a JSON 403 like the API's other errors.
CSRF_FAILURE_VIEW = "example_projects.django_chat.chat.views.csrf_failure"

# DEMO ONLY login: a user name kept in Django's signed-cookie session.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_NAME = "demo_login"
SESSION_COOKIE_HTTPONLY = True

DATABASES: dict[str, dict[str, str]] = {}

# Error reports hide the session header and cookie too (check agentsession.W008).
DEFAULT_EXCEPTION_REPORTER_FILTER = (
    "agentsession.integrations.django.debug.SafeExceptionReporterFilter"
)

AGENTSESSION = {
    "STORE": config.store_url(),  # AGENTSESSION_STORE_URL or the demo's SQLite file
    "AGENT": AGENT_NAME,
    "IDLE_TIMEOUT": config.IDLE_TIMEOUT,  # unused conversations expire
    "GET_USER_ID": "example_projects.django_chat.chat.views.demo_user",
}
