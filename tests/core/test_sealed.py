"""Sealed stores: what is stored, what a wrong key does, rotation, compression."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsession import (
    DecryptionError,
    IntegrityError,
    InvalidInput,
    MissingKey,
    SessionManager,
    Store,
    migrate,
    open_store,
)
from agentsession.sealed import MARK, KeyRing, SealedStore, rekey
from agentsession.store import prepare_entry
from agentsession.testing import FakeClock
from tests.core.sealed_support import (
    DURABLE,
    b64_forms,
    other_key,
    picture,
    raw_text,
    ring_pairs,
    tamper,
    url_of,
)

pytest.importorskip("cryptography", reason="the crypto extra is not installed")

SECRETS = {
    "message": "Xylophone-message-4711",
    "metadata": "Quartz-metadata-0815",
    "state": "Marigold-state-2024",
    "checkpoint name": "Obsidian-checkpoint",
    "checkpoint metadata": "Zephyr-checkpoint-meta",
}


def ring(*ids: str) -> KeyRing:
    return KeyRing(ring_pairs(*ids))


@pytest.fixture(params=DURABLE)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, tmp_path: Path) -> Iterator[str]:
    yield from url_of(kind, tmp_path)


def sealed(url: str, keys: KeyRing | None = None, **options: Any) -> SessionManager:
    return SessionManager(SealedStore(open_store(url), keys=keys, **options))


def filled(manager: SessionManager) -> tuple[str, list[str], str]:
    """A session with every kind of record; its id, entry ids and checkpoint id."""
    s = manager.create("assistant", user_id="alice", metadata={"note": SECRETS["metadata"]})
    s.extend([{"role": "user", "content": f"{SECRETS['message']} {n}"} for n in range(3)])
    s.update_state({"mood": SECRETS["state"]})
    point = s.checkpoint(SECRETS["checkpoint name"], {"why": SECRETS["checkpoint metadata"]})
    s.append({"role": "assistant", "content": "later"})
    return s.id, [e.id for e in s.entries()], point.id


# -- the key ring -----------------------------------------------------------------------


def test_key_ring_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = KeyRing.generate(), KeyRing.generate()
    monkeypatch.setenv("KEYS_UNDER_TEST", f"2026-12:{new}, 2026-06:{old}")
    keys = KeyRing.from_env("KEYS_UNDER_TEST")
    assert keys.ids == ("2026-12", "2026-06") and keys.primary == "2026-12"
    assert new not in repr(keys) and old not in repr(keys)
    for bad in ("", "no-colon", "k1:short", "bad.id:" + new, f"k1:{new},k1:{old}"):
        monkeypatch.setenv("KEYS_UNDER_TEST", bad)
        with pytest.raises(InvalidInput):
            KeyRing.from_env("KEYS_UNDER_TEST")
    with pytest.raises(InvalidInput):
        KeyRing([])


def test_nothing_to_do_is_refused() -> None:
    with pytest.raises(InvalidInput):
        SealedStore("memory://")


# -- what is stored -----------------------------------------------------------------------


def test_the_store_holds_no_plaintext(kind: str, url: str) -> None:
    with sealed(url, ring("k1")) as manager:
        session_id, _, point_id = filled(manager)
        s = manager.get(session_id)
        assert s.metadata == {"note": SECRETS["metadata"]}
        assert s.state() == {"mood": SECRETS["state"]}
        assert s.messages()[0].data["content"] == f"{SECRETS['message']} 0"
        (point,) = s.checkpoints()
        assert point.name == SECRETS["checkpoint name"]
        assert point.metadata == {"why": SECRETS["checkpoint metadata"]}
        s.restore(point_id)
    raw = raw_text(kind, url)
    assert session_id.encode() in raw  # ids stay in clear: the picture is real
    for what, secret in SECRETS.items():
        for form in b64_forms(secret):
            assert form not in raw, f"the {what} is stored in clear"


def test_compression_shrinks_what_is_stored(tmp_path: Path) -> None:
    text = "The tool returned these rows: " + ", ".join(f"row {n}: ok" for n in range(400))
    sizes = {}
    for mode in ("plain", "zlib"):
        path = tmp_path / f"{mode}.db"
        store: Store = open_store(f"sqlite:///{path}")
        if mode == "zlib":
            store = SealedStore(store, compression="zlib")
        with SessionManager(store) as manager:
            s = manager.create("assistant")
            s.append({"role": "tool", "content": text})
            assert manager.get(s.id).messages()[0].data["content"] == text
        sizes[mode] = len(raw_text("sqlite", f"sqlite:///{path}"))
    assert sizes["zlib"] < sizes["plain"]


def test_a_small_record_stays_plain_and_one_shaped_like_a_seal_is_sealed() -> None:
    store = SealedStore("memory://", compression="zlib", threshold=100)
    with SessionManager(store) as manager:
        s = manager.create("assistant")
        s.append_entry("note", {"x": 1})
        s.append_entry("note", {MARK: "1.-.-.AAAA"})  # user data of the reserved shape
        stored = store.inner.export_session(s.id, now=manager.now())
        assert dict(stored.entries[0].data) == {"x": 1}
        assert list(stored.entries[1].data) == [MARK]
        assert stored.entries[1].data[MARK] != "1.-.-.AAAA"
        assert [dict(e.data) for e in s.entries()] == [{"x": 1}, {MARK: "1.-.-.AAAA"}]


# -- records bound to their place ------------------------------------------------------------


def test_a_record_moved_elsewhere_does_not_open(kind: str, url: str) -> None:
    keys = ring("k1")
    store = SealedStore(open_store(url), keys=keys)
    with SessionManager(store) as manager:
        first, ids, _ = filled(manager)
        second, others, _ = filled(manager)
        now = manager.now()

        def stored(session_id: str, entry_id: str) -> dict[str, Any]:
            raw = store.inner.get_entry(session_id, entry_id, now=now)
            return dict(raw.data)

        # Two entries of one session swapped; an entry copied into another session.
        a, b = stored(first, ids[0]), stored(first, ids[1])
        tamper(kind, store.inner, first, ids[0], b)
        tamper(kind, store.inner, first, ids[1], a)
        tamper(kind, store.inner, second, others[0], a)
        for session_id, entry_id in ((first, ids[0]), (first, ids[1]), (second, others[0])):
            with pytest.raises(DecryptionError) as caught:
                store.get_entry(session_id, entry_id, now=now)
            assert caught.value.key_id == "k1"
        with pytest.raises(DecryptionError):
            manager.get(first).messages()
        # The digests cover the stored records: restore finds the swap too.
        with pytest.raises(IntegrityError):
            manager.get(first).restore(manager.get(first).checkpoints()[0].id)


# -- keys: rotation, a missing key, a wrong key ------------------------------------------------


def test_rotation_reads_old_keys_and_writes_the_newest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with sealed(url, ring("k1")) as manager:
        session_id, _, _ = filled(manager)
    with sealed(url, ring("k2", "k1")) as manager:
        s = manager.get(session_id)
        s.append({"role": "user", "content": "under k2"})
        stored = manager.store.inner.export_session(session_id, now=manager.now())  # type: ignore[attr-defined]
        key_ids = {e.data[MARK].split(".")[1] for e in stored.entries}
        assert key_ids == {"k1", "k2"}
    with sealed(url, ring("k2")) as manager, pytest.raises(MissingKey) as caught:
        manager.get(session_id)
    assert caught.value.key_id == "k1" and "k1" in str(caught.value)


def test_records_in_clear_are_read_unless_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with SessionManager(url) as manager:
        plain = manager.create("assistant", metadata={"old": True})
        plain.append({"role": "user", "content": "before encryption"})
    with sealed(url, ring("k1")) as manager:
        s = manager.get(plain.id)
        assert s.metadata == {"old": True}
        s.update_metadata({"new": 1})
        s.append({"role": "user", "content": "after"})
        assert [m.data["content"] for m in s.messages()] == ["before encryption", "after"]
        assert manager.get(plain.id).metadata == {"old": True, "new": 1}
    with sealed(url, ring("k1"), read_plaintext=False) as manager, pytest.raises(DecryptionError):
        manager.get(plain.id).messages()


WRONG: dict[str, tuple[Callable[[], KeyRing], type[DecryptionError]]] = {
    "missing": (lambda: ring("k9"), MissingKey),
    "other bytes": (lambda: KeyRing(other_key("k1")), DecryptionError),
}


@pytest.mark.parametrize("wrong", list(WRONG))
def test_a_wrong_key_changes_nothing(kind: str, url: str, wrong: str, tmp_path: Path) -> None:
    with sealed(url, ring("k1")) as manager:
        session_id, ids, point_id = filled(manager)
        manager.create("assistant", user_id="bob")  # a second session for the prune
    before = picture(kind, url)
    make_ring, error = WRONG[wrong]
    store = SealedStore(open_store(url), keys=make_ring())
    clock = FakeClock()
    now = clock()
    entry = prepare_entry("message", {"role": "user", "content": "x"}, now, None)

    calls: dict[str, Callable[[], object]] = {
        "pop (reads the last message)": lambda: store.read_path(
            session_id, now=now, limit=1, kind="message"
        ),
        "clear": lambda: store.set_head(session_id, None, now=now, expires_at=None),
        "switch": lambda: store.set_head(session_id, ids[0], now=now, expires_at=None),
        "restore (reads the checkpoint)": lambda: store.get_checkpoint(
            session_id, point_id, now=now, with_path=True
        ),
        "append": lambda: store.append(
            session_id, [entry], now=now, expires_at=None, expected_head=None
        ),
        "update_metadata": lambda: store.update_session(
            session_id, metadata={"x": 1}, now=now, expires_at=None
        ),
        "delete": lambda: store.delete_session(session_id),
        "rotate_id": lambda: store.rotate_id(
            session_id, "rotated-id", user_id="alice", now=now, expires_at=None
        ),
        "export": lambda: store.export_session(session_id, now=now),
    }
    with SessionManager(store, clock=clock) as manager:
        calls["get"] = lambda: manager.get(session_id)
        calls["prune"] = lambda: manager.prune(keep_newest=1, per="agent")
        calls["migrate from"] = lambda: migrate(manager, "memory://")
        for name, call in calls.items():
            with pytest.raises(error):
                call()
            assert picture(kind, url) == before, f"{name} changed the store"
        # As a destination that holds the session: reported, never overwritten.
        with sealed(url, ring("k1")) as right:
            source = right.export_session(session_id)
        with SessionManager("memory://") as other:
            other.import_session(source)
            report = migrate(other, manager)
        assert report.failed and session_id in report.failed
        assert error.__name__ in report.failed[session_id]
        assert picture(kind, url) == before


# -- rekey ---------------------------------------------------------------------------------


def test_rekey_seals_everything_under_the_newest_key(kind: str, url: str) -> None:
    with SessionManager(open_store(url)) as plain:
        in_clear = plain.create("assistant", metadata={"old": 1})
        in_clear.append({"role": "user", "content": "written in clear"})
    with sealed(url, ring("k1")) as manager:
        ids = [filled(manager)[0] for _ in range(5)]
        before = {i: manager.export_session(i) for i in [*ids, in_clear.id]}
    store = SealedStore(open_store(url), keys=ring("k2", "k1"))
    seen: list[int] = []
    report = rekey(store, page=2, progress=lambda r: seen.append(r.resealed))
    assert report.ok and report.resealed == 6 and report.current == 0 and report.passes == 1
    assert seen == sorted(seen) and len(seen) == 6
    again = rekey(store)
    assert again.resealed == 0 and again.current == 6  # resumable: only read
    store.close()
    with sealed(url, ring("k2"), read_plaintext=False) as manager:  # k1 has left the ring
        for session_id, export in before.items():
            after = manager.export_session(session_id)
            assert after.session.revision == export.session.revision + 1
            assert after.entries == export.entries and after.checkpoints == export.checkpoints
            s = manager.get(session_id)
            for point in s.checkpoints():
                s.restore(point.id)
    raw = raw_text(kind, url)
    assert not any(f in raw for f in b64_forms("written in clear"))


def test_rekey_leaves_what_does_not_open_and_loses_no_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with sealed(url, ring("k0")) as manager:
        lost = filled(manager)[0]
    with sealed(url, ring("k1")) as manager:
        kept = filled(manager)[0]
    before = picture("sqlite", url)
    store = SealedStore(open_store(url), keys=ring("k2", "k1"))
    report = rekey(store)
    store.close()
    assert list(report.failed) == [lost] and "MissingKey" in report.failed[lost]
    assert report.resealed == 1
    # The session that did not open is byte for byte as it was.
    rows = [line for line in picture("sqlite", url) if lost in line]
    assert rows and all(line in before for line in rows)
    # A session written between the read and the write is taken again
    # (by writers whose newest key is still k1).
    with sealed(url, ring("k1", "k2")) as manager:
        manager.get(kept).append({"role": "user", "content": "k1 again"})
    raced = SealedStore(open_store(url), keys=ring("k2", "k1"))
    original = raced.inner.export_session

    def write_meanwhile(session_id: str, *, now: Any) -> Any:
        export = original(session_id, now=now)
        raced.inner.export_session = original  # type: ignore[method-assign]
        with sealed(url, ring("k1", "k2")) as other:
            other.get(kept).append({"role": "user", "content": "meanwhile"})
        return export

    raced.inner.export_session = write_meanwhile  # type: ignore[method-assign]
    report = rekey(raced)
    assert report.passes == 2 and report.resealed == 1
    raced.close()
    with sealed(url, ring("k2", "k1")) as manager:
        contents = [m.data["content"] for m in manager.get(kept).messages()]
        assert contents[-2:] == ["k1 again", "meanwhile"]
        exported = manager.store.inner.export_session(kept, now=manager.now())  # type: ignore[attr-defined]
        assert {e.data[MARK].split(".")[1] for e in exported.entries} == {"k2"}


def test_a_session_half_under_a_lost_key_is_left_as_it_is(kind: str, url: str) -> None:
    # Its row opens (its metadata was sealed again under k1), its history does
    # not (k0 is gone): every call that would act on the history refuses.
    with sealed(url, ring("k0")) as manager:
        session_id, ids, point_id = filled(manager)
    with sealed(url, ring("k1", "k0")) as manager:
        manager.get(session_id).update_metadata({"resealed": True})
    before = picture(kind, url)
    with sealed(url, ring("k1")) as manager:
        s = manager.get(session_id)
        assert s.metadata["resealed"] is True
        calls: dict[str, Callable[[], object]] = {
            "pop": s.pop,
            "restore": lambda: s.restore(point_id),
            "switch": lambda: s.switch(ids[1]),
            "messages": s.messages,
            "state": s.state,
        }
        for name, call in calls.items():
            with pytest.raises(MissingKey) as caught:
                call()
            assert caught.value.key_id == "k0", name
            assert picture(kind, url) == before, f"{name} changed the store"


def test_migration_seals_again_on_the_way(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    destination = f"file://{tmp_path / 'destination'}"
    with sealed(source, ring("k1")) as manager:
        ids = {filled(manager)[0] for _ in range(3)}
    with (
        sealed(source, ring("k1")) as src,
        sealed(destination, ring("k2"), compression="zlib") as dst,
    ):
        report = migrate(src, dst)
        assert report.ok and report.copied == 3
        assert migrate(src, dst).skipped == 3  # a re-run: identical, untouched
        for session_id in ids:
            assert dst.export_session(session_id) == src.export_session(session_id)
            stored = dst.store.inner.export_session(session_id, now=dst.now())  # type: ignore[attr-defined]
            assert {e.data[MARK].split(".")[1] for e in stored.entries} == {"k2"}
    with (
        SessionManager(f"sqlite:///{tmp_path / 'plain.db'}") as plain,
        sealed(destination, ring("k2")) as dst,
    ):
        assert migrate(dst, plain).copied == 3  # and out of encryption
        for session_id in ids:
            assert plain.export_session(session_id) == dst.export_session(session_id)
