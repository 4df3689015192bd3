"""Path checksums on Redis: data the release before them wrote
(``legacy/redis-v2.json``, made by that release's code) opens, reads,
verifies and restores as it is, and gets them once an append needs them;
appends the script had to place itself, and appends racing from several
store objects, end with every checksum stored and right."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentsession import Entry, IntegrityError, SessionManager
from agentsession.store import chain_checksum, chain_steps
from agentsession.stores.redis._records import Keys, append_head
from agentsession.stores.redis._sync.store import RedisStore
from agentsession.testing import FakeClock
from tests.services import redis_url

from .test_redis_support import plain_client, with_prefix

FIXTURE = Path(__file__).parent / "legacy" / "redis-v2.json"
SESSIONS = {"release2-linear", "release2-tree", "release2-empty", "release2-helper"}


@pytest.fixture
def server() -> str:
    return redis_url()


@pytest.fixture
def legacy(server: str, prefix: str) -> str:
    """The fixture's keys, as the old release wrote them, under ``prefix``."""
    client: Any = plain_client(server)
    for name, item in json.loads(FIXTURE.read_text(encoding="utf-8"))["keys"].items():
        key, value = prefix + name, item["value"]
        if item["type"] == "hash":
            client.hset(key, mapping=value)
        elif item["type"] == "set":
            client.sadd(key, *value)
        elif item["type"] == "list":
            client.rpush(key, *value)
        else:
            client.zadd(key, dict(value))
    client.close()
    return with_prefix(server, prefix)


def chained(path: list[Entry]) -> list[str]:
    """The path checksum of each entry of a path (root first)."""
    return chain_steps([e.digest for e in path], None)


def check_tree(entries: tuple[Entry, ...] | list[Entry]) -> int:
    """Each entry that carries a checksum carries its path's; how many do."""
    by_id = {e.id: e for e in entries}
    carried = 0
    for entry in entries:
        digests, at = [], entry
        while True:
            digests.append(at.digest)
            if at.parent_id is None:
                break
            at = by_id[at.parent_id]
        if entry.checksum is not None:
            assert entry.checksum == chain_checksum(reversed(digests)), entry
            carried += 1
    return carried


def stored_values(url: str, prefix: str, session_id: str) -> dict[str, str]:
    client: Any = plain_client(url)
    try:
        return dict(client.hgetall(Keys(prefix).session(session_id)[1]))
    finally:
        client.close()


def test_release2_data_opens_reads_verifies_and_restores(legacy: str) -> None:
    clock = FakeClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    with SessionManager(legacy, clock=clock) as manager:
        assert {s.id for s in manager.list()} == SESSIONS
        assert {s.id for s in manager.list("assistant", user_id="alice")} == {
            "release2-linear",
            "release2-empty",
        }
        linear = manager.get("release2-linear")
        path = linear.entries()
        assert len(path) == 61 and {e.checksum for e in path} == {None}  # none kept then
        assert [m.data["content"] for m in linear.messages(limit=2)] == [
            "tide answer 28",
            "tide answer 29",
        ]
        assert linear.state() == {"step": 1}
        # The head has no checksum: this checkpoint hashes the path, as before.
        now = linear.checkpoint("now")
        assert now.checksum == chain_checksum(e.digest for e in path)
        [halfway, _] = linear.checkpoints()
        linear.restore(halfway.id)  # verified over the stored bytes
        assert len(linear.entries()) == 31
        linear.restore(now.id)
        tree = manager.get("release2-tree")
        for point in tree.checkpoints():
            tree.restore(point.id)
        assert [m.data["content"] for m in tree.messages()][-1] == "after the summary"
        assert manager.get("release2-empty").entries() == []
        assert manager.get("release2-helper").messages()[0].data == {
            "role": "user",
            "content": "a tide table",
        }
        # An export of it imports with checksums (an import computes them).
        export = manager.export_session("release2-tree")
        assert manager.delete("release2-tree")
        manager.import_session(export)
        moved = manager.export_session("release2-tree").entries
        assert check_tree(moved) == len(moved) == 17


def test_release2_entries_get_checksums_when_appended_to(
    server: str, legacy: str, prefix: str
) -> None:
    clock = FakeClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    store = RedisStore.from_url(legacy)
    with SessionManager(store, clock=clock) as manager:
        linear = manager.get("release2-linear")
        added = linear.append({"role": "user", "content": "after the upgrade"})
        path = linear.entries()
        sums = chained(path)
        assert [e.checksum for e in path] == sums and added.checksum == sums[-1]
        # Stored, not only handed out: in every entry of the path and the row.
        values = stored_values(server, prefix, "release2-linear")
        assert all(values[e.id].split("\t")[6] == s for e, s in zip(path, sums, strict=True))
        client: Any = plain_client(server)
        row = client.hgetall(Keys(prefix).session("release2-linear")[0])
        client.close()
        assert (row["hc"], row["hh"]) == (sums[-1], added.id)
        # The head read alone carries it: a checkpoint reads nothing more.
        _, head = store.read_path("release2-linear", now=clock(), limit=1, with_data=False)
        assert head[0].checksum == sums[-1]
        assert linear.checkpoint().checksum == sums[-1]
        [halfway, *_] = linear.checkpoints()
        linear.restore(halfway.id)  # an old checkpoint still verifies
        branch = linear.append({"n": 1})
        assert branch.checksum == chain_steps([branch.digest], sums[30])[0]

        # The tree: each leaf appended to gets its path's; a branch stops
        # reading at the first entry that already has one.
        tree = manager.get("release2-tree")
        for leaf in manager.store.list_leaves("release2-tree", now=clock())[1]:
            tree.switch(leaf.id)
            tree.append({"role": "user", "content": f"after {leaf.id}"})
            assert [e.checksum for e in tree.entries()] == chained(tree.entries())
        for point in tree.checkpoints():
            tree.restore(point.id)  # old checkpoints verify on the filled-in entries
        everything = manager.export_session("release2-tree").entries
        assert check_tree(everything) == len(everything) == 20
    # A store object that never saw these sessions reads them all back.
    with SessionManager(RedisStore.from_url(legacy), clock=clock) as other:
        again = other.export_session("release2-tree").entries
        assert [e.checksum for e in again] == [e.checksum for e in everything]


def test_a_damaged_old_entry_is_still_reported(server: str, legacy: str, prefix: str) -> None:
    """Filling in checksums hashes the stored digests, never the data: an old
    entry whose data was changed fails verification after the append too."""
    clock = FakeClock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    with SessionManager(legacy, clock=clock) as manager:
        linear = manager.get("release2-linear")
        victim = linear.entries()[3]
        client: Any = plain_client(server)
        key = Keys(prefix).session("release2-linear")[1]
        *fixed, _ = client.hget(key, victim.id).split("\t")
        client.hset(key, victim.id, "\t".join([*fixed, '{"content":"forged","role":"user"}']))
        client.close()
        linear.append({"role": "user", "content": "after the upgrade"})
        point = linear.checkpoint()
        with pytest.raises(IntegrityError):
            linear.restore(point.id)


def test_an_append_placed_by_the_script_gets_its_checksums(server: str, prefix: str) -> None:
    """When the head keeps moving, the script places an append itself,
    without checksums, and its caller stores them next. If that caller died
    first, the next append that meets the gap fills it: read up to the gap's
    base before placing its own, or, placed by the script too (on a base
    without one), after."""
    url = with_prefix(server, prefix)
    here, there = RedisStore.from_url(url), RedisStore.from_url(url)
    here._db.place_after = 0  # the first refusal already places it
    mine = SessionManager(here).create("assistant")
    theirs = SessionManager(there).get(mine.id)

    def check(added: list[Entry]) -> None:
        path = mine.entries()
        assert [e.data["n"] for e in path] == list(range(1, len(path) + 1))
        sums = chained(path)
        assert [e.checksum for e in path] == sums
        assert [e.checksum for e in added] == sums[len(path) - len(added) :]
        values = stored_values(server, prefix, mine.id)
        assert [values[e.id].split("\t")[6] for e in path] == sums

    def lose_checksums(entries: list[Entry]) -> None:
        """As if their caller died between placing them and storing theirs."""
        client: Any = plain_client(server)
        row, stored = Keys(prefix).session(mine.id)[:2]
        for entry in entries:
            fields = client.hget(stored, entry.id).split("\t")
            client.hset(stored, entry.id, "\t".join(fields[:6] + fields[7:]))
        client.hset(row, "hc", "")
        client.close()

    theirs.extend([{"n": 1}, {"n": 2}])  # `here` holds a stale copy
    check(mine.extend([{"n": 3}, {"n": 4}]))  # placed by the script
    lose_checksums(mine.entries()[2:])
    check([theirs.append({"n": 5})])  # refused, reads up from the head first
    lose_checksums(mine.entries()[4:])
    check([mine.append({"n": 6})])  # placed by the script on 5, which had none
    here.close()
    there.close()


def test_appends_racing_from_many_store_objects_keep_their_checksums(
    server: str, prefix: str
) -> None:
    """Store objects that each hold their own copy of the row, appending at
    once: copies go stale, appends are placed again (or by the script), and
    every entry ends with its path's checksum stored."""
    url = with_prefix(server, prefix)
    session_id = SessionManager(url).create("assistant").id
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            with SessionManager(url) as manager:
                session = manager.get(session_id)
                for n in range(100):
                    session.append({"w": worker, "n": n, "id": uuid.uuid4().hex})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with SessionManager(url) as manager:
        path = manager.get(session_id).entries()
    assert len(path) == 400
    values = stored_values(server, prefix, session_id)
    assert [values[e.id].split("\t")[6] for e in path] == chained(path)


def test_a_copy_not_knowing_its_heads_checksum_is_never_offered_as_current(
    server: str, prefix: str
) -> None:
    """The script stores the entries of a current copy as sent: a copy whose
    head's checksum is not known goes as one the script must check against
    the row (which refuses it: the head it holds has none either)."""
    store = RedisStore.from_url(with_prefix(server, prefix))
    session = SessionManager(store).create("assistant")
    entry = session.append({"n": 1})
    seen = store._db._rows[session.id]
    fields = append_head(session.id, "1", "", "*", "a\t-", seen, entry, False).split("\t")
    assert fields[6:10] == [str(session.revision), seen.created, entry.id, entry.checksum]
    blind = seen._replace(checksum=None)
    fields = append_head(session.id, "1", "", "*", "a\t-", blind, entry, False).split("\t")
    assert fields[6:10] == ["", "", entry.id, ""]
    store.close()
