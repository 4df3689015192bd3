"""The ``agentsession`` command: operate a store from a shell.

Needs the ``cli`` extra (Click and Rich); the core never imports this
package. Commands, options and exit codes: ``docs/cli.md``.
"""

from __future__ import annotations

import logging

try:
    import click  # noqa: F401
    import rich  # noqa: F401
except ImportError:  # pragma: no cover - exercised by the core env's test
    from agentsession.extras import missing_extra

    raise missing_extra("the agentsession command line", "cli") from None

from . import _browse, _care, _keys, _transfer
from ._app import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, add_commands, cli

# Each module adds its commands to ``cli``.
for _module in (_browse, _transfer, _care, _keys):
    _module.register(cli)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "add_commands",
    "cli",
    "main",
]


def main() -> None:
    """The console script ``agentsession`` and ``python -m agentsession``."""
    # A driver's pool retries log each failure (with host names); the command
    # reports the outcome once, in its own words.
    logging.getLogger("psycopg").setLevel(logging.CRITICAL)
    cli(prog_name="agentsession")
