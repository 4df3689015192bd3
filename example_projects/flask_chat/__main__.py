"""``python -m example_projects.flask_chat``: serve the demo with Flask's server."""

from __future__ import annotations

from ..shared import config
from . import create_app

if __name__ == "__main__":
    url = config.store_url()
    print(f"agentsession chat demo (Flask): http://{config.HOST}:{config.PORT}")
    print(f"sessions stored in {url.split('@')[-1]}")  # never print a password
    create_app(url).run(host=config.HOST, port=config.PORT)
