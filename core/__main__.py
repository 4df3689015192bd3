"""``python -m agentsession``: the ``agentsession`` command (the ``cli`` extra)."""

from agentsession.cli import main

main()
