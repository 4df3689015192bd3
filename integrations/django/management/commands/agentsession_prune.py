"""``manage.py agentsession_prune``: erase expired agent sessions, and more.

Run it from cron (or a scheduled task) as often as you like: it erases, a
batch at a time, every session whose ``ttl`` or ``idle_timeout`` has passed,
with all its entries and checkpoints, from the store ``AGENTSESSION["STORE"]``
names (expired sessions are already invisible; this reclaims the space), and
with ``--older-than`` / ``--keep-newest`` the sessions those retention
policies name (``--dry-run`` counts them instead).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsession import InvalidInput
from agentsession.integrations.django.conf import agentsession_settings
from agentsession.retention import PRUNE_HELP, prune


class Command(BaseCommand):
    help = "Erase expired agent sessions, and those the retention options name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500, help=PRUNE_HELP["batch"])
        parser.add_argument("--older-than", help=PRUNE_HELP["older_than"])
        parser.add_argument("--keep-newest", type=int, help=PRUNE_HELP["keep_newest"])
        parser.add_argument(
            "--per", choices=["user", "agent", "user_agent"], default="user", help=PRUNE_HELP["per"]
        )
        parser.add_argument("--agent", help=PRUNE_HELP["agent"])
        parser.add_argument("--dry-run", action="store_true", help=PRUNE_HELP["dry_run"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            line = prune(agentsession_settings.sync_manager(), **options)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(line)
