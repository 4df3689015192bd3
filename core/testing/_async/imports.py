"""Conformance: ``import_session`` writes a whole, checked export or nothing."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import pytest

from ..._async.manager import AsyncSessionManager
from ..._async.protocol import AsyncStore
from ..._exceptions import (
    AgentSessionError,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    SessionNotFound,
)
from ..._models import SessionExport, evolve
from .._clock import FakeClock
from .base import AsyncSuiteBase, deface, msg
from .limits import BAD_IDS

Case = tuple[str, type[AgentSessionError], Any]


def bad_exports(good: SessionExport) -> list[Case]:
    """Damaged copies of ``good`` (entries: a root, its child, ...; a checkpoint
    at the child), each with the error its import must raise."""
    info, (root, child, *_), point = good.session, good.entries, good.checkpoints[0]
    not_a_record: Any = "x"

    def session(**changes: Any) -> SessionExport:
        return replace(good, session=evolve(info, **changes))

    def entry(index: int, **changes: Any) -> SessionExport:
        entries = list(good.entries)
        entries[index] = replace(entries[index], **changes)
        return replace(good, entries=tuple(entries))

    def checkpoint(**changes: Any) -> SessionExport:
        return replace(good, checkpoints=(replace(point, **changes), *good.checkpoints[1:]))

    return [
        *((f"session id {bad!r:.20}", InvalidInput, session(id=bad)) for bad in BAD_IDS),
        ("agent", InvalidInput, session(agent="../x")),
        ("long user_id", InvalidInput, session(user_id="u" * 257)),
        ("NUL in user_id", InvalidInput, session(user_id="a\x00b")),
        ("user_id type", InvalidInput, session(user_id=7)),
        ("NaN metadata", InvalidInput, session(metadata={"m": math.nan})),
        ("naive time", InvalidInput, session(created_at=info.created_at.replace(tzinfo=None))),
        ("unknown head", InvalidInput, session(head="no-such-entry")),
        ("message_count", InvalidInput, session(message_count=info.message_count + 1)),
        ("revision", InvalidInput, session(revision=-1)),
        ("max_messages", InvalidInput, session(max_messages=0)),
        ("entry id", InvalidInput, entry(-1, id="../x")),
        ("entry kind", InvalidInput, entry(0, kind="a/b")),
        ("NaN data", InvalidInput, entry(0, data={"content": math.nan})),
        ("set in data", InvalidInput, entry(0, data={"content": {1}})),
        ("NUL in data", InvalidInput, entry(0, data={"content": "a\x00b"})),
        ("altered data", IntegrityError, entry(0, data=msg("forged"))),
        ("altered digest", IntegrityError, entry(0, digest="0" * 64)),
        ("unknown parent", InvalidInput, entry(1, parent_id="no-such-entry")),
        ("cycle", InvalidInput, entry(0, parent_id=child.id)),
        ("own parent", InvalidInput, entry(0, parent_id=root.id)),
        ("depth", InvalidInput, entry(1, depth=7)),
        ("message_index", InvalidInput, entry(1, message_index=7)),
        ("twice", InvalidInput, replace(good, entries=(*good.entries, root))),
        ("not an entry", InvalidInput, replace(good, entries=(*good.entries, not_a_record))),
        ("checkpoint id", InvalidInput, checkpoint(id="a b")),
        ("checkpoint twice", InvalidInput, replace(good, checkpoints=(point, point))),
        ("foreign checkpoint", InvalidInput, checkpoint(session_id="someone-else")),
        ("checkpoint entry", InvalidInput, checkpoint(entry_id="no-such-entry")),
        ("NUL in name", InvalidInput, checkpoint(name="a\x00b")),
        ("surrogate in name", InvalidInput, checkpoint(name="\ud800")),
        ("checkpoint metadata", InvalidInput, checkpoint(metadata={"m": {1}})),
        ("checksum", IntegrityError, checkpoint(checksum="0" * 64)),
        ("not an export", InvalidInput, "an export"),
    ]


class AsyncImportTests(AsyncSuiteBase):
    async def exported(self, manager: AsyncSessionManager) -> SessionExport:
        """An export (root, child, ...; a checkpoint at the child), then deleted."""
        session = await self.chat(manager, 2, user_id="alice", metadata={"k": "v"})
        await session.checkpoint("two", {"step": [2]})
        await session.update_state({"mood": "calm"})
        await session.pop()
        await session.append(msg("other branch"))
        exported = await manager.export_session(session.id)
        assert await manager.delete(session.id)
        return exported

    async def test_a_bad_export_stores_nothing(self, store: AsyncStore, clock: FakeClock) -> None:
        manager, spy = self.spied(store, clock)
        good = await self.exported(manager)
        count = len(await manager.list())
        for name, error, bad in bad_exports(good):
            spy.calls.clear()
            with pytest.raises(error):
                await manager.import_session(bad)
            assert spy.calls == [], f"{name}: the store was called: {spy.calls}"
        small, small_spy = self.spied(store, clock, max_entry_bytes=10)
        with pytest.raises(LimitExceeded):
            await small.import_session(good)
        assert small_spy.calls == []
        with pytest.raises(SessionNotFound):
            await manager.get(good.session.id)
        assert len(await manager.list()) == count
        imported = await manager.import_session(good)
        assert await self.snapshot(manager, imported.id) == good

    async def test_import_keeps_no_reference_to_the_export(
        self, manager: AsyncSessionManager
    ) -> None:
        good = await self.exported(manager)
        expected = copy.deepcopy(good)
        imported = await manager.import_session(good)
        deface(good)
        assert await self.snapshot(manager, imported.id) == expected
        assert imported.info == expected.session
        (point,) = expected.checkpoints
        restored = await imported.restore(point.id)
        # The record as the store keeps it (a sealed store's checksum covers
        # the sealed records; its export carries the one of the clear ones).
        assert restored == (await imported.checkpoints())[0]
        assert (restored.id, restored.entry_id, restored.name, restored.metadata) == (
            point.id,
            point.entry_id,
            point.name,
            point.metadata,
        )
