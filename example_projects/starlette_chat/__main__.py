"""``python -m example_projects.starlette_chat``: serve the demo with uvicorn."""

from __future__ import annotations

import uvicorn

from ..shared import config
from . import create_app

if __name__ == "__main__":
    url = config.store_url()
    print(f"agentsession chat demo (Starlette): http://{config.HOST}:{config.PORT}")
    print(f"sessions stored in {url.split('@')[-1]}")  # never print a password
    uvicorn.run(create_app(url), host=config.HOST, port=config.PORT, log_level="warning")
