"""``python -m example_projects.starlette_chat``: serve the demo with uvicorn."""

from __future__ import annotations

import uvicorn

from ..shared import config
from ..shared.banner import banner
from . import create_app

if __name__ == "__main__":
    config.claim_port()
    url = config.store_url()
    print(banner("Starlette", url), flush=True)
    uvicorn.run(create_app(url), host=config.HOST, port=config.PORT, access_log=False)
