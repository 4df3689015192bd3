"""``python -m example_projects.flask_chat``: serve the demo with Flask's server."""

from __future__ import annotations

from ..shared import config
from ..shared.banner import banner
from . import create_app

if __name__ == "__main__":
    config.claim_port()
    url = config.store_url()
    print(banner("Flask", url), flush=True)
    create_app(url).run(host=config.HOST, port=config.PORT)
