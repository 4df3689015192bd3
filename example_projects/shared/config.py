"""Where the demo apps keep their data, and the key that signs their cookies.

All three apps use the same store and the same key, so a conversation started
in one of them is still there in the others, and after any restart.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
from datetime import timedelta

from . import DATA_DIR

__all__ = ["HOST", "IDLE_TIMEOUT", "PORT", "claim_port", "secret_key", "store_url"]

HOST = os.environ.get("DEMO_HOST", "127.0.0.1")
PORT = int(os.environ.get("DEMO_PORT", "8000"))
#: Conversations nobody wrote to for this long expire (and a visit without a
#: cookie, e.g. from curl, leaves no session behind forever).
IDLE_TIMEOUT = timedelta(days=30)


def claim_port() -> None:
    """Stop with a clear message (and exit status 2) when the port is taken,
    before the banner prints a URL that another program answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, PORT))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise SystemExit(
                f"port {PORT} on {HOST} is in use: pick another one with "
                f"DEMO_PORT, e.g. DEMO_PORT={PORT + 1} python example_projects/run_demo.py"
            ) from None


def store_url() -> str:
    """``$AGENTSESSION_STORE_URL`` (``redis://...``, ``postgresql://...``), else
    the SQLite file ``example_projects/data/chat.db``."""
    url = os.environ.get("AGENTSESSION_STORE_URL")
    if url:
        return url
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DATA_DIR / 'chat.db'}"  # absolute path: four slashes in all


def secret_key() -> str:
    """``$DEMO_SECRET_KEY``, else a random key made once and kept in ``data/``.

    It must survive restarts: the cookies that name each browser's session
    and its demo login are signed with it.
    """
    key = os.environ.get("DEMO_SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another app made it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
