"""``python -m example_projects.django_chat``: ``manage.py runserver`` on the demo's address."""

from __future__ import annotations

import os

from django.core.management import execute_from_command_line

from ..shared import config
from ..shared.banner import banner
from .manage import SETTINGS

if __name__ == "__main__":
    config.claim_port()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    print(banner("Django", config.store_url()), flush=True)
    address = f"{config.HOST}:{config.PORT}"
    execute_from_command_line(["manage.py", "runserver", "--noreload", address])
