#!/usr/bin/env python
"""Django's command-line utility for the chat demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SETTINGS = "example_projects.django_chat.chatsite.settings"


def main() -> None:
    # The project lives inside the agentsession repository: put the repository
    # root on the path so ``example_projects`` imports without installing it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE", "example_projects.django_chat.chatsite.settings"
    )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
