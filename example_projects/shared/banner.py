"""What every demo server prints when it starts."""

from __future__ import annotations

from urllib.parse import urlsplit

from . import config

__all__ = ["banner"]


def banner(framework: str, store_url: str) -> str:
    parts = urlsplit(store_url)
    where = store_url if parts.password is None else store_url.replace(parts.password, "***")
    return (
        f"agentsession chat demo ({framework}): http://{config.HOST}:{config.PORT}\n"
        f"  sessions stored in {where}\n"
        '  try "My name is Alice", stop the server (Ctrl+C), start it again, '
        'and ask "What is my name?"'
    )
