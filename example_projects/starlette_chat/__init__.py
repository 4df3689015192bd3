"""The chat demo on Starlette: ``python -m example_projects.starlette_chat``."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
