"""The file store behaves like the reference (memory) store, call for call.

Random sequences of every store call -- with their errors -- run against a
:class:`MemoryStore` and a :class:`FileStore` side by side; after each call
the results must be equal, and every few calls a *fresh* ``FileStore`` (a
restart: everything replayed from the files) must read the same as well.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentsession import UNCHECKED, AgentSessionError, Checkpoint, SessionInfo, Store
from agentsession.store import expiry_after_write, prepare_entry
from agentsession.stores import MemoryStore
from agentsession.stores.file._sync.store import FileStore

from ._file_support import eager

KINDS = ["message", "message", "message", "state", "tool_call"]


def outcome(call: Callable[[Store], Any], store: Store) -> Any:
    try:
        return call(store)
    except AgentSessionError as exc:
        return type(exc)


def file_store(base: Path, eager_indexes: bool) -> FileStore:
    """A file store; ``eager_indexes``: one that reopens sessions from their
    snapshots at almost every call and compacts its journals often."""
    return eager(FileStore(base, max_open=2)) if eager_indexes else FileStore(base)


class Model:
    def __init__(self, base: Path, seed: int, eager_indexes: bool = False) -> None:
        self.base = base
        self.eager = eager_indexes
        self.rng = random.Random(seed)
        self.now = datetime(2031, 5, 6, tzinfo=UTC)
        self.memory = MemoryStore()
        self.file = file_store(base, eager_indexes)
        self.ids: list[str] = []  # every session id ever used
        self.entries: dict[str, list[str]] = {}
        self.checkpoints: dict[str, list[str]] = {}

    def same(self, call: Callable[[Store], Any]) -> Any:
        expected = outcome(call, self.memory)
        assert outcome(call, self.file) == expected
        return expected

    def tick(self, seconds: float = 0.001) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def expiry(self, session_id: str, now: datetime) -> datetime | None:
        stored = self.memory._sessions.get(session_id)
        if stored is None:
            return None
        return expiry_after_write(now, stored.info.idle_timeout, stored.info.deadline)

    def pick(self) -> str:
        live = [i for i in self.ids if self.live(i)]
        if live and self.rng.random() < 0.85:
            return self.rng.choice(live)
        return self.rng.choice(self.ids) if self.ids else "nothing"

    def step(self) -> None:
        rng, now = self.rng, self.tick()
        sid = self.pick()
        exp = self.expiry(sid, now)
        roll = rng.random()
        if roll < 0.08 or not self.ids:
            new = f"s{len(self.ids)}" if rng.random() < 0.9 else self.pick()
            idle = rng.choice([None, None, None, 5.0])
            deadline = rng.choice([None, None, None, now + timedelta(seconds=20)])
            info = SessionInfo(
                id=new,
                agent=rng.choice(["a", "b"]),
                user_id=rng.choice([None, "u1", "u2"]),
                created_at=now,
                updated_at=now,
                metadata={"n": len(self.ids)},
                expires_at=expiry_after_write(now, idle, deadline),
                deadline=deadline,
                idle_timeout=idle,
                max_messages=rng.choice([None, None, 12]),
            )
            if self.same(lambda s: s.create_session(info)) is None and new not in self.ids:
                self.ids.append(new)
        elif roll < 0.5:
            batch = [
                prepare_entry(rng.choice(KINDS), {"x": rng.random(), "t": "ü\n"}, now, None)
                for _ in range(rng.choice([1, 1, 2, 3]))
            ]
            head = rng.choice([UNCHECKED, UNCHECKED, UNCHECKED, None, self.any_entry(sid)])
            result = self.same(
                lambda s: s.append(sid, batch, now=now, expires_at=exp, expected_head=head)
            )
            if isinstance(result, tuple):
                self.entries.setdefault(sid, []).extend(e.id for e in batch)
        elif roll < 0.62:
            target = rng.choice([None, self.any_entry(sid), self.any_entry(sid), "unknown"])
            revision = rng.choice([None, None, 0, 3])
            self.same(
                lambda s: s.set_head(
                    sid, target, now=now, expires_at=exp, expected_revision=revision
                )
            )
        elif roll < 0.7:
            point = Checkpoint(
                id=f"c{rng.randrange(10**6)}",
                session_id=sid,
                entry_id=rng.choice([self.head(sid), self.head(sid), "unknown"]),
                created_at=now,
                name=rng.choice([None, "named"]),
                metadata={"k": rng.randrange(9)},
                checksum="0" * 64,
            )
            if not isinstance(
                self.same(lambda s: s.save_checkpoint(point, now=now, expires_at=exp)), type
            ):
                self.checkpoints.setdefault(sid, []).append(point.id)
        elif roll < 0.76:
            patch = {rng.choice("abc"): rng.choice([1, None, [1, {"d": 2}]])}
            self.same(lambda s: s.update_session(sid, metadata=patch, now=now, expires_at=exp))
        elif roll < 0.8:
            new = f"r{len(self.ids)}" if rng.random() < 0.9 else self.pick()
            owner = rng.choice([UNCHECKED, None, "u3"])
            if not isinstance(
                self.same(lambda s: s.rotate_id(sid, new, user_id=owner, now=now, expires_at=exp)),
                type,
            ):
                self.ids.append(new)
                self.entries[new] = self.entries.pop(sid, [])
                self.checkpoints[new] = self.checkpoints.pop(sid, [])
        elif roll < 0.82:
            self.same(lambda s: s.delete_session(sid))
        elif roll < 0.86:
            export = self.memory.export_session(sid, now=now) if self.live(sid) else None
            if export is not None:
                self.same(lambda s: s.delete_session(sid))
                self.same(lambda s: s.import_session(export))
                self.same(lambda s: s.import_session(export))  # now taken: ConflictError
        elif roll < 0.88:
            self.tick(rng.choice([1, 2, 4]))
            now = self.tick()
            size = rng.choice([1, 2, 100])
            self.same(lambda s: s.prune_expired(now=now, batch=size))
        else:
            self.reads(sid, now)

    def live(self, sid: str) -> bool:
        return not isinstance(
            outcome(lambda s: s.get_session(sid, now=self.now), self.memory), type
        )

    def any_entry(self, sid: str) -> str | None:
        return self.rng.choice(self.entries.get(sid) or [None])

    def head(self, sid: str) -> str | None:
        stored = self.memory._sessions.get(sid)
        return stored.info.head if stored else None

    def reads(self, sid: str, now: datetime) -> None:
        rng = self.rng
        self.same(lambda s: s.get_session(sid, now=now))
        self.same(lambda s: s.export_session(sid, now=now))
        self.same(lambda s: s.list_checkpoints(sid, now=now))
        self.same(lambda s: sorted_leaves(s, sid, now))
        for _ in range(3):
            args = {
                "before": rng.choice([None, None, self.any_entry(sid), "unknown"]),
                "limit": rng.choice([None, 0, 1, 3, 50]),
                "kind": rng.choice([None, "message", "state"]),
            }
            self.same(lambda s, args=args: s.read_path(sid, now=now, **args))  # type: ignore[misc]
        for point in [*self.checkpoints.get(sid, [])[-2:], "unknown"]:
            self.same(lambda s, p=point: s.get_checkpoint(sid, p, now=now, with_path=True))  # type: ignore[misc]
        entry = self.any_entry(sid) or "unknown"
        self.same(lambda s: s.get_entry(sid, entry, now=now))
        agent = rng.choice([None, "a", "b", "c"])
        user: Any = rng.choice([UNCHECKED, None, "u1", "u3"])
        limit, offset = rng.choice([0, 1, 3, 50]), rng.choice([0, 1, 2])
        self.same(
            lambda s: s.list_sessions(
                agent=agent, user_id=user, limit=limit, offset=offset, now=now
            )
        )

    def everything(self, store: Store) -> dict[str, Any]:
        now = self.now
        found: dict[str, Any] = {sid: outcome(whole(sid, now), store) for sid in self.ids}
        found["lists"] = [
            store.list_sessions(agent=agent, user_id=user, limit=100, offset=0, now=now)
            for agent in (None, "a", "b")
            for user in (UNCHECKED, None, "u1", "u2", "u3")
        ]
        return found


def whole(sid: str, now: datetime) -> Callable[[Store], Any]:
    return lambda s: (s.export_session(sid, now=now), sorted_leaves(s, sid, now))


def sorted_leaves(store: Store, sid: str, now: datetime) -> Any:
    info, leaves = store.list_leaves(sid, now=now)
    return info, sorted(leaves, key=lambda e: e.id)


@pytest.mark.parametrize("eager_indexes", [False, True], ids=["plain", "eager indexes"])
@pytest.mark.parametrize("seed", range(8))
def test_random_calls_match_the_reference_store(
    tmp_path: Path, seed: int, eager_indexes: bool
) -> None:
    model = Model(tmp_path / "model", seed, eager_indexes)
    for step in range(400):
        model.step()
        if step % 50 == 49:
            expected = model.everything(model.memory)
            assert model.everything(model.file) == expected
            restarted = file_store(tmp_path / "model", eager_indexes)  # a restart
            try:
                assert model.everything(restarted) == expected
            finally:
                restarted.close()
    model.file.close()
