"""WSGI entry point (``manage.py runserver``, gunicorn): sync views, sync sessions."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_projects.django_chat.chatsite.settings")
application = get_wsgi_application()
