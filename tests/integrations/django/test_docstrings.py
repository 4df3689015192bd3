"""Every public name of the Django integration has a docstring."""

from __future__ import annotations

from tests.docstrings import undocumented


def test_every_public_name_has_a_docstring() -> None:
    assert undocumented("agentsession.integrations.django") == []
