"""``python -m agentsession`` and the ``agentsession`` console script: the
command line, or, without the ``cli`` extra, which extra to install."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        from agentsession.cli import main as command_line
    except ImportError as exc:  # the message names the extra (agentsession.extras)
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    command_line()


if __name__ == "__main__":
    main()
