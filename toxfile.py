"""tox's inline plugin: under CI, an environment with no interpreter fails.

On a developer's machine a test env whose Python is missing is skipped and
named in tox's summary (``py313-...: SKIP``), so ``tox`` runs everything the
machine can. Under ``CI=true`` (or ``AGENTSESSION_REQUIRE_SERVICES=1``) every
env must run: a missing interpreter is a failure, not a skip.
"""

from __future__ import annotations

import os

from tox.config.sets import CoreConfigSet
from tox.plugin import impl
from tox.session.state import State


def _strict() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"} or (
        os.environ.get("AGENTSESSION_REQUIRE_SERVICES") == "1"
    )


@impl
def tox_add_core_config(core_conf: CoreConfigSet, state: State) -> None:
    if _strict():
        # Read through the option tox gives every core setting: the CLI/env
        # value wins over tox.ini.
        state.conf.options.skip_missing_interpreters = "false"
