"""``manage.py agentsession_prune``: erase expired agent sessions.

Run it from cron (or a scheduled task) as often as you like: it erases, a
batch at a time, every session whose ``ttl`` or ``idle_timeout`` has passed,
with all its entries and checkpoints, from the store ``AGENTSESSION["STORE"]``
names. Expired sessions are already invisible; this only reclaims the space.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsession.integrations.django.conf import agentsession_settings


class Command(BaseCommand):
    help = "Erase expired agent sessions, with their entries and checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch",
            type=int,
            default=500,
            help="sessions erased per store call (default: 500)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch = options["batch"]
        if batch < 1:
            raise CommandError("--batch must be a positive number")
        count = agentsession_settings.sync_manager().prune(batch=batch)
        self.stdout.write(f"pruned {count} expired session(s)")
