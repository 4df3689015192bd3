"""``manage.py agentsession <command>``: the ``agentsession`` command line
(ls, show, export, import, migrate, prune, verify, stats, doctor) on the
store ``AGENTSESSION["STORE"]`` names. Needs the ``cli`` extra; options go
after the command's name. ``manage.py agentsession_prune`` stays as it is.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsession.extras import missing_extra
from agentsession.integrations.django.conf import agentsession_settings

try:
    import click

    from agentsession.cli import add_commands
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("manage.py agentsession", "cli") from exc


class Command(BaseCommand):
    help = "Operate the agent session store: ls, show, export, import, migrate, prune, ..."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("command", nargs=argparse.REMAINDER, help="a command and its options")

    def run_from_argv(self, argv: list[str]) -> None:
        # Everything after "agentsession" is the command line's, --help
        # included; Click prints its errors and exits with its codes.
        self._group().main(args=argv[2:], prog_name="manage.py agentsession")

    def handle(self, *args: Any, **options: Any) -> None:
        """``call_command("agentsession", "ls", "--json")``: a non-zero exit
        is a ``CommandError`` carrying the code."""
        try:
            code = self._group().main(
                args=list(options["command"]),
                prog_name="manage.py agentsession",
                standalone_mode=False,
            )
        except click.ClickException as error:
            raise CommandError(error.format_message(), returncode=error.exit_code) from None
        if isinstance(code, int) and code:
            raise CommandError(f"exit status {code}", returncode=code)

    def _group(self) -> click.Group:
        group = click.Group("agentsession", help=self.help)
        add_commands(group, agentsession_settings.sync_manager)
        return group
