"""Start a chat demo: ``python example_projects/run_demo.py [starlette|flask|django]``.

Serves http://127.0.0.1:8000 (``DEMO_HOST`` / ``DEMO_PORT`` to change) with the
sessions in ``example_projects/data/chat.db``, or in the store that
``AGENTSESSION_STORE_URL`` names (``redis://...``, ``postgresql://...``).
Stop it with Ctrl+C and start it again: every conversation is still there.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

FRAMEWORKS = ("starlette", "flask", "django")


def main(argv: list[str]) -> None:
    framework = argv[0] if argv else "starlette"
    if framework not in FRAMEWORKS:
        raise SystemExit(f"usage: run_demo.py [{'|'.join(FRAMEWORKS)}]")
    # Run from a clone without installing the examples: the repository root on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    runpy.run_module(f"example_projects.{framework}_chat", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
