"""The chat demo on Flask: ``flask --app example_projects.flask_chat run --port 8000``."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
