"""Every public name has a docstring: the documentation site's API reference
is generated from them (``mkdocs build --strict``)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.docstrings import undocumented

MODULES = [
    "agentsession",
    "agentsession.store",
    "agentsession.stores",
    "agentsession.sealed",
    "agentsession.config",
    "agentsession.retention",
    "agentsession.exports",
    "agentsession.testing",
    "agentsession.audit",
    "agentsession.context",
    "agentsession.extras",
    "agentsession.integrations.asgi",
    "agentsession.integrations.starlette",
    "agentsession.integrations.flask",
    "agentsession.integrations.openai_agents",
    "agentsession.integrations.langchain",
    "agentsession.integrations.pydantic_ai",
    "agentsession.integrations.langgraph",
    "agentsession.integrations.adk",
]
# agentsession.integrations.django: tests/integrations/django/test_docstrings.py
# (it needs Django's settings).

DRIVERS = {
    "agentsession.integrations.asgi": "starlette",
    "agentsession.integrations.starlette": "starlette",
    "agentsession.integrations.flask": "flask",
    "agentsession.integrations.openai_agents": "agents",
    "agentsession.integrations.langchain": "langchain_core",
    "agentsession.integrations.pydantic_ai": "pydantic_ai",
    "agentsession.integrations.langgraph": "langgraph",
    "agentsession.integrations.adk": "google.adk",
}


def _installed(name: str) -> bool:
    try:  # a dotted name imports its parent, which may be missing too
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_has_a_docstring(module: str) -> None:
    driver = DRIVERS.get(module)
    if driver is not None and not _installed(driver):
        pytest.skip(f"{driver} is not installed")
    assert undocumented(module) == []
