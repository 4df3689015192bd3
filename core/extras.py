"""The error raised when an optional part's dependency is not installed.

Every optional part (a store's driver, a framework) raises the same
``ImportError``, naming the extra to install the way this copy of the package
was installed: ``pip install 'agentsession[redis]'``, and for an editable
install from a checkout also ``pip install -e '.[redis]'``. The quotes keep shells
from reading the brackets as a pattern.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata

__all__ = ["install_hint", "missing_extra"]


@cache
def _editable() -> bool:
    # Every copy found (a checkout's own egg-info may come first on sys.path).
    for dist in metadata.distributions(name="agentsession"):
        text = dist.read_text("direct_url.json")
        try:
            if text and json.loads(text).get("dir_info", {}).get("editable", False):
                return True
        except ValueError:
            continue
    return False


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` for this installation."""
    hint = f"pip install 'agentsession[{extra}]'"
    if _editable():
        hint += f" (in this checkout: pip install -e '.[{extra}]')"
    return hint


def missing_extra(what: str, extra: str) -> ImportError:
    """The ``ImportError`` for ``what`` whose dependency (the extra) is missing."""
    return ImportError(f"{what} needs the {extra!r} extra: {install_hint(extra)}")
