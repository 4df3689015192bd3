"""ASGI entry point of the test project (for the real-server test under uvicorn)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.django.settings")

application = get_asgi_application()
