"""The Redis store on a standalone server: the conformance suite (sync and
async), the ways to open it, native key expiry and concurrent processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from agentsession import (
    UNCHECKED,
    AsyncSessionManager,
    ConflictError,
    InvalidInput,
    LimitExceeded,
    SessionManager,
    StoreUnavailable,
    open_async_store,
    open_store,
)
from agentsession.store import prepare_entry
from agentsession.stores.redis._async.store import AsyncRedisStore
from agentsession.stores.redis._records import Keys, to_us
from agentsession.stores.redis._sync.store import RedisStore
from agentsession.testing import (
    AsyncStoreConformance,
    FakeClock,
    StoreConformance,
    assert_one_chain,
    process_appends,
)
from tests.services import redis_url

from .test_redis_support import (
    AsyncRedisSuite,
    PrivateRedis,
    RedisSuite,
    indexes_holding,
    plain_client,
    prefix_keys,
    with_prefix,
)


@pytest.fixture
def server() -> str:
    return redis_url()


class TestRedisStore(RedisSuite, StoreConformance):
    pass


class TestAsyncRedisStore(AsyncRedisSuite, AsyncStoreConformance):
    pass


def _exercise(store: RedisStore) -> None:
    with SessionManager(store) as manager:
        session = manager.create("assistant", user_id="alice", metadata={"k": "v"})
        session.extend([{"role": "user", "content": str(n)} for n in range(3)])
        assert [m.data["content"] for m in session.messages(limit=2)] == ["1", "2"]
        assert [r.id for r in manager.list("assistant", user_id="alice")] == [session.id]


def test_opened_by_url_client_and_pool(server: str, prefix: str) -> None:
    store = open_store(with_prefix(server, prefix))
    assert isinstance(store, RedisStore)
    assert prefix in repr(store)
    _exercise(store)
    assert isinstance(open_async_store(with_prefix(server, prefix)), AsyncRedisStore)
    # A client of the user's own, without decode_responses: replies are bytes.
    client = redis.Redis.from_url(server)
    _exercise(RedisStore(client, key_prefix=prefix + "c:"))
    assert client.ping()  # close() left the user's client open
    pool = redis.ConnectionPool.from_url(server)
    _exercise(RedisStore(connection_pool=pool, key_prefix=prefix + "p:"))
    client.close()
    pool.disconnect()


def test_default_prefix_and_bad_prefix() -> None:
    assert "agentsession:" in repr(RedisStore())
    with pytest.raises(InvalidInput):
        RedisStore(key_prefix="bad{tag}:")


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?prefix=x",  # key_prefix misspelt
        "rediss://127.0.0.1:6379/0?bogus=1",
        "unix:///tmp/redis.sock?db=0&bogus=1",
        "redis+cluster://127.0.0.1:6379/0?bogus=1",
        "redis://127.0.0.1:6379/0?socket_timeout=soon",
    ],
)
@pytest.mark.parametrize("kind", [RedisStore, AsyncRedisStore])
def test_an_unknown_or_bad_url_setting_is_refused_when_the_store_is_made(
    kind: type[RedisStore] | type[AsyncRedisStore], url: str
) -> None:
    # Not at the first command, as a TypeError from inside redis-py.
    with pytest.raises(InvalidInput, match="bad setting") as refused:
        kind.from_url(url)
    assert "soon" not in str(refused.value)  # a setting's value is never echoed


def test_settings_redis_py_knows_are_accepted() -> None:
    store = RedisStore.from_url(
        "redis://127.0.0.1:6379/0?socket_timeout=3&key_prefix=fine:", health_check_interval=30
    )
    assert "fine:" in repr(store)
    store.close()


@pytest.mark.asyncio
async def test_async_store_from_users_client(server: str, prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(server)
    store = AsyncRedisStore(client, key_prefix=prefix)
    session = await AsyncSessionManager(store).create("assistant")
    await session.append({"role": "user", "content": "hi"})
    assert [m.data for m in await session.messages()] == [{"role": "user", "content": "hi"}]
    await store.close()
    assert await client.ping()
    await client.aclose()


def test_nothing_connects_before_the_first_operation() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    store.close()


def test_every_key_of_an_expiring_session_has_a_ttl(server: str, prefix: str) -> None:
    clock = FakeClock()
    store = RedisStore.from_url(with_prefix(server, prefix))
    manager = SessionManager(store, clock=clock, idle_timeout=timedelta(minutes=10))
    session = manager.create("assistant", user_id="alice")
    session.extend([{"role": "user", "content": str(n)} for n in range(3)])
    session.checkpoint("c")
    clock.advance(60)
    session.append({"role": "user", "content": "last"})  # a write renews every key
    forever = manager.create("assistant", idle_timeout=None)
    forever.append({"role": "user", "content": "kept"})
    client = plain_client(server)
    keys = prefix_keys(client, prefix)
    mine = [k for k in keys if "{" + session.id + "}" in k]
    assert len(mine) == 5  # row, entries, leaves, checkpoints, path
    for key in mine:
        ttl = client.pttl(key)
        assert ttl != -1, f"{key} has no expiry"
        assert 9 * 60_000 < ttl <= 10 * 60_000
    for key in (k for k in keys if "{" + forever.id + "}" in k):
        assert client.pttl(key) == -1
    assert not any("alice" in k for k in keys), "a user id appears raw in a key name"
    client.close()
    store.close()


def test_every_key_keeps_a_ttl_that_does_not_move(server: str, prefix: str) -> None:
    """A ttl without idle_timeout keeps one expires_at: an append leaves the
    expiry every key already has, but a key it makes (a path list started
    over, or lost) gets it too."""
    clock = FakeClock()
    store = RedisStore.from_url(with_prefix(server, prefix))
    manager = SessionManager(store, clock=clock, ttl=timedelta(minutes=10))
    session = manager.create("assistant")
    session.extend([{"n": n} for n in range(3)])
    session.checkpoint("c")
    clock.advance(60)
    session.append({"n": 3})
    client = plain_client(server)
    row, _, _, _, path = Keys(prefix).session(session.id)
    session.clear()
    session.append({"n": "again"})  # a new path list
    client.delete(path)
    session.append({"n": "lost"})  # pushed onto a missing list
    mine = [k for k in prefix_keys(client, prefix) if "{" + session.id + "}" in k]
    assert len(mine) == 5
    for key in mine:
        assert 0 < client.pttl(key) <= 10 * 60_000, key
    expires = session.info.expires_at
    assert expires is not None and client.hget(row, "exp") == to_us(expires)
    assert indexes_holding(client, prefix, session.id)
    client.close()
    store.close()


def test_an_append_resent_after_a_lost_reply_is_applied_once(server: str, prefix: str) -> None:
    """redis-py sends a command again after a dropped connection: the append
    recognises its own entries and answers as it did the first time, even
    though its head check or the message limit would now refuse it."""
    url = with_prefix(server, prefix)
    store = RedisStore.from_url(url)
    manager = SessionManager(store, max_messages=5)
    session = manager.create("assistant", user_id="u")
    first = session.append({"n": 0})
    now = session.updated_at + timedelta(seconds=1)
    batch = [prepare_entry("message", {"n": n}, now, None) for n in (1, 2)]
    info, placed = store.append(session.id, batch, now=now, expires_at=None, expected_head=first.id)
    assert [(e.parent_id, e.depth, e.message_index) for e in placed] == [
        (first.id, 2, 2),
        (placed[0].id, 3, 3),
    ]
    other = RedisStore.from_url(url)  # a store object that never saw the row
    for expected in (first.id, UNCHECKED):  # the head moved; nothing else refuses it
        again, replaced = other.append(
            session.id, batch, now=now, expires_at=None, expected_head=expected
        )
        assert replaced == placed and again == info
    session.extend([{"n": 3}, {"n": 4}])  # 5 messages: the limit
    _, replaced = other.append(session.id, batch, now=now, expires_at=None, expected_head=UNCHECKED)
    assert replaced == placed
    assert [e.data["n"] for e in session.entries()] == [0, 1, 2, 3, 4]
    assert session.refresh().revision == 3
    with pytest.raises(LimitExceeded):
        session.append({"n": 5})
    other.close()
    manager.close()


def test_an_append_over_a_stale_copy_is_placed_on_the_row(server: str, prefix: str) -> None:
    """A store object places entries under the head of its copy of the row;
    when another one wrote since, the script places them under the head as it
    is, and checks the head and the limit against the row, not the copy."""
    url = with_prefix(server, prefix)
    here, there = SessionManager(url, max_messages=4), SessionManager(url, max_messages=4)
    mine = here.create("assistant", user_id="u")
    theirs = there.get(mine.id)
    one = mine.append({"n": 1})
    two = theirs.append({"n": 2})
    three = mine.append({"n": 3})  # `here` holds the row as its own append left it
    assert [(e.parent_id, e.depth, e.message_index) for e in (one, two, three)] == [
        (None, 1, 1),
        (one.id, 2, 2),
        (two.id, 3, 3),
    ]
    with pytest.raises(ConflictError):
        theirs.append({"n": "x"}, expected_head=two.id)  # its copy's head, not the row's
    four = theirs.append({"n": 4}, expected_head=three.id)
    assert (four.parent_id, four.depth, four.message_index) == (three.id, 4, 4)
    with pytest.raises(LimitExceeded):
        mine.append({"n": 5})  # 3 messages on its copy, 4 on the row
    assert [e.data["n"] for e in mine.entries()] == [1, 2, 3, 4]
    assert mine.refresh().revision == theirs.refresh().revision == 4
    assert [s.id for s in here.list(user_id="u")] == [mine.id]
    here.close()
    there.close()


def test_path_list_is_rebuilt_when_lost_or_wrong(server: str, prefix: str) -> None:
    """The list of the current path is a cache of the parent links: if it is
    evicted or off, reads and writes rebuild it and stay correct."""
    manager = SessionManager(RedisStore.from_url(with_prefix(server, prefix)))
    session = manager.create("assistant")
    entries = session.extend([{"n": n} for n in range(6)])
    client = plain_client(server)
    path_key = Keys(prefix).session(session.id)[4]
    client.delete(path_key)
    assert [m.data["n"] for m in session.messages(limit=3)] == [3, 4, 5]
    client.rpush(path_key, "junk")
    assert [m.data["n"] for m in session.messages()] == list(range(6))
    client.delete(path_key)
    session.switch(entries[2].id)  # off the (lost) list: rebuilt from the links
    assert [m.data["n"] for m in session.messages()] == [0, 1, 2]
    session.append({"n": "x"})
    assert [m.data["n"] for m in session.messages(limit=2)] == [2, "x"]
    assert client.lrange(path_key, 0, -1) == [e.id for e in session.entries()]
    client.close()
    manager.close()


def test_a_recreated_id_is_not_mistaken_for_the_cached_session(server: str, prefix: str) -> None:
    """Another process deletes a session and creates one under the same id; a
    store object that still remembers the old row must not return it."""
    clock = FakeClock()
    url = with_prefix(server, prefix)
    here, there = SessionManager(url, clock=clock), SessionManager(url, clock=clock)
    mine = here.create("old-agent", session_id="same-id")
    mine.append({"n": 1})  # `here` now holds the row at revision 1
    assert there.delete("same-id")
    theirs = there.create("new-agent", session_id="same-id", metadata={"k": "v"})
    theirs.append({"n": "theirs"})  # revision 1 again
    mine.append({"n": 2})
    assert mine.info.agent == "new-agent" and mine.info.metadata == {"k": "v"}
    assert mine.info.created_at == theirs.created_at and mine.revision == 2
    assert [m.data["n"] for m in mine.messages()] == ["theirs", 2]
    here.close()
    there.close()


def test_rows_handed_out_are_copies(server: str, prefix: str) -> None:
    """Records are plain snapshots: changing one a store returned changes
    nothing the store returns later (it remembers rows to save decoding)."""
    manager = SessionManager(RedisStore.from_url(with_prefix(server, prefix)))
    session = manager.create("assistant", metadata={"k": "v"})
    session.append({"n": 1})
    session.info.agent = "tampered"
    session.info.metadata["k"] = "tampered"  # type: ignore[index]
    session.append({"n": 2})  # derived from the store's own copy of the row
    assert session.info.agent == "assistant" and session.info.metadata == {"k": "v"}
    session.messages()
    session.info.revision = 99
    session.messages()  # the same row again: not decoded twice, but a fresh copy
    assert session.revision == 2 and session.info.metadata == {"k": "v"}
    manager.close()


@pytest.mark.parametrize("damage", ["[1]", '{"role":', '{"a":1},{"b":2}'])
def test_stored_data_that_is_no_object_is_refused_and_kept(
    server: str, prefix: str, damage: str
) -> None:
    """A read decodes a page's data in one pass; a value changed behind the
    store's back into something that is not one JSON object fails the read
    with a typed error, and the read changes nothing stored."""
    manager = SessionManager(RedisStore.from_url(with_prefix(server, prefix)))
    session = manager.create("assistant")
    session.extend([{"n": i} for i in range(5)])
    other = manager.create("assistant")
    other.append({"n": 0})
    victim = session.messages()[2]
    client: Any = plain_client(server)
    key = Keys(prefix).session(session.id)[1]
    *fields, _ = client.hget(key, victim.id).split("\t", 7)
    client.hset(key, victim.id, "\t".join([*fields, damage]))
    with pytest.raises(InvalidInput, match="not an object"):
        session.messages()
    assert client.hget(key, victim.id).endswith("\t" + damage)
    client.close()
    assert [e.data for e in other.messages()] == [{"n": 0}]
    manager.close()


@pytest.mark.slow
def test_processes_append_to_one_chain(server: str, prefix: str) -> None:
    url = with_prefix(server, prefix)
    session_id = process_appends(url, processes=4, appends=250)
    with SessionManager(url) as manager:
        session = manager.get(session_id)
        path = session.messages()
        assert_one_chain(path, 1000)
        assert session.message_count == 1000
        assert len({m.data["content"] for m in path}) == 1000


def test_index_entries_of_sessions_redis_expired_are_cleaned(server: str, prefix: str) -> None:
    """Redis drops an expired session's keys by itself; what the indexes still
    say about it goes on the next listing that meets it, or on ``prune()``."""
    manager = SessionManager(RedisStore.from_url(with_prefix(server, prefix)))
    met_by_list = manager.create("lister", user_id="alice", ttl=timedelta(seconds=1))
    left_to_prune = manager.create("other", user_id="bob", ttl=timedelta(seconds=1))
    kept = manager.create("lister", user_id="alice")
    client = plain_client(server)
    for sid in (met_by_list.id, left_to_prune.id):
        assert len(indexes_holding(client, prefix, sid)) == 6  # all, exp, owner, 3 per owner
    time.sleep(1.2)
    assert not client.exists(*Keys(prefix).session(met_by_list.id)), "Redis kept the keys"
    assert [r.id for r in manager.list("lister", user_id="alice")] == [kept.id]
    assert indexes_holding(client, prefix, met_by_list.id) == []
    assert len(indexes_holding(client, prefix, left_to_prune.id)) == 6  # not met yet
    assert manager.prune() == 1
    assert indexes_holding(client, prefix, left_to_prune.id) == []
    assert len(indexes_holding(client, prefix, kept.id)) == 5  # never expires: not in exp
    assert [r.id for r in manager.list()] == [kept.id]
    client.close()
    manager.close()


@pytest.mark.asyncio
async def test_async_store_from_users_pool(server: str, prefix: str) -> None:
    pool = redis.asyncio.ConnectionPool.from_url(server)  # bytes replies
    store = AsyncRedisStore(connection_pool=pool, key_prefix=prefix)
    manager = AsyncSessionManager(store)
    session = await manager.create("assistant", user_id="alice")
    await session.extend([{"n": 1}, {"n": 2}])
    assert [m.data["n"] for m in await session.messages(limit=1)] == [2]
    assert [r.id for r in await manager.list("assistant", user_id="alice")] == [session.id]
    await store.close()
    client = redis.asyncio.Redis(connection_pool=pool)
    assert await client.ping()  # close() left the user's pool usable
    await client.aclose()
    await pool.aclose()


@pytest.fixture(scope="module")
def unix_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    directory = tmp_path_factory.mktemp("unix")
    server = PrivateRedis(directory, unix_socket=directory / "redis.sock")
    server.start()
    yield server
    server.kill()


def test_opened_by_unix_socket_url(unix_redis: PrivateRedis, tmp_path: Path) -> None:
    url = f"unix://{unix_redis.unix_socket}?db=0&key_prefix=unix:"
    store = open_store(url)
    assert isinstance(store, RedisStore) and "unix:" in repr(store)
    _exercise(store)
    assert isinstance(open_async_store(url), AsyncRedisStore)
    absent = open_store(f"unix://{tmp_path / 'none.sock'}")  # accepted; nothing connects
    with pytest.raises(StoreUnavailable) as caught:
        SessionManager(absent).create("assistant")
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    absent.close()
