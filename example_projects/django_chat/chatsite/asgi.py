"""ASGI entry point (``uvicorn example_projects.django_chat.chatsite.asgi:application``)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_projects.django_chat.chatsite.settings")
application = get_asgi_application()
