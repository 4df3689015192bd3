"""check_export beyond the conformance suite: what a valid export may look like."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from agentsession import InvalidInput, SessionManager
from agentsession._exports import check_export
from agentsession._models import SessionExport


def exported() -> SessionExport:
    with SessionManager("memory://") as manager:
        session = manager.create("assistant")
        session.extend([{"role": "user", "content": str(n)} for n in range(3)])
        session.checkpoint("three")
        return manager.export_session(session.id)


def test_entries_in_any_order() -> None:
    good = exported()
    shuffled = replace(good, entries=good.entries[::-1])
    assert check_export(shuffled, max_bytes=None) is shuffled


def test_json_objects_must_be_dicts() -> None:
    good = exported()
    frozen = replace(good.session, metadata=MappingProxyType({}))
    with pytest.raises(InvalidInput):
        check_export(replace(good, session=frozen), max_bytes=None)


def test_a_truncated_export_is_refused() -> None:
    good = exported()
    assert check_export(good, max_bytes=None) is good
    with pytest.raises(InvalidInput):  # the head and the checkpoint's entry are cut off
        check_export(replace(good, entries=good.entries[:1]), max_bytes=None)
