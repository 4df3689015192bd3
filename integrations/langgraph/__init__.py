"""A LangGraph checkpointer on every agentsession store (extra ``langgraph``).

:class:`AgentSessionSaver` is a ``BaseCheckpointSaver``: give it a
``SessionManager`` (``graph.invoke``), an ``AsyncSessionManager``
(``graph.ainvoke``) or a store URL (both, opened on first use)::

    saver = AgentSessionSaver("sqlite:///graphs.db")
    graph = builder.compile(checkpointer=saver)
    graph.invoke(inputs, {"configurable": {"thread_id": "t-1", "user_id": "alice"}})

A thread is one session, a checkpoint one entry under its parent
checkpoint's entry, so LangGraph's time travel and forks are the session's
branches; channel values are stored once per version. Every read and write
checks the owner, ``config["configurable"]["user_id"]`` (``user_key``): a
thread of another user reads as an unknown one. See ``docs/langgraph.md``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from weakref import WeakValueDictionary

from agentsession import UNCHECKED, AsyncSessionManager, SessionManager, Unchecked
from agentsession.extras import missing_extra

try:
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.base import (
        BaseCheckpointSaver,
        ChannelVersions,
        Checkpoint,
        CheckpointMetadata,
        CheckpointTuple,
        get_checkpoint_id,
        get_serializable_checkpoint_metadata,
    )
    from langgraph.checkpoint.serde.base import SerializerProtocol
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession.integrations.langgraph (LangGraph)", "langgraph") from exc

from . import _entries as fmt
from . import _ops as ops
from ._ops import Found, Op

__all__ = ["AgentSessionSaver", "session_id_for"]

session_id_for = fmt.session_id_for

#: How long put_writes waits for its checkpoint, saved in the background.
_WAIT_SECONDS = 10.0


class AgentSessionSaver(BaseCheckpointSaver[int]):
    """LangGraph checkpoints in agentsession sessions.

    Args:
        manager: a :class:`~agentsession.SessionManager` (sync methods), an
            :class:`~agentsession.AsyncSessionManager` (async methods), or a
            store URL (both, each opened on first use and closed by
            :meth:`close` / :meth:`aclose`). Its ``ttl`` and ``idle_timeout``
            apply to the threads it creates.
        agent: the agent name thread sessions are created under.
        user_key: the ``configurable`` key naming the caller. A thread is
            created owned by it; a thread owned by someone else, or by nobody
            when the key is absent, reads as unknown. ``None``: no owner
            check at all (trusted single-tenant code).
        serde: LangGraph's serializer (default ``JsonPlusSerializer()``);
            one with a pickle fallback is refused.
    """

    def __init__(
        self,
        manager: SessionManager | AsyncSessionManager | str,
        *,
        agent: str = "langgraph",
        user_key: str | None = "user_id",
        serde: SerializerProtocol | None = None,
    ) -> None:
        if isinstance(serde, JsonPlusSerializer) and serde.pickle_fallback:
            raise ValueError("AgentSessionSaver never pickles: pass a serde without pickle")
        super().__init__(serde=serde or JsonPlusSerializer())
        self._url = manager if isinstance(manager, str) else None
        self._sync = manager if isinstance(manager, SessionManager) else None
        self._async = manager if isinstance(manager, AsyncSessionManager) else None
        self.agent = agent
        self.user_key = user_key
        # LangGraph saves a thread's checkpoints and writes from several
        # background tasks at once; within a process they take turns per
        # thread (across processes the store's compare-and-swap decides).
        self._locks: WeakValueDictionary[str, threading.Lock] = WeakValueDictionary()
        self._alocks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._guard = threading.Lock()

    # -- configs -----------------------------------------------------------------

    def _owner(self, config: RunnableConfig | None) -> str | Unchecked | None:
        if self.user_key is None:
            return UNCHECKED
        user = (config or {}).get("configurable", {}).get(self.user_key)
        return None if user is None else str(user)

    def _config(
        self, config: RunnableConfig | None, thread_id: str, ns: str, checkpoint_id: str
    ) -> RunnableConfig:
        configurable: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
        if self.user_key is not None:
            user = (config or {}).get("configurable", {}).get(self.user_key)
            if user is not None:
                configurable[self.user_key] = user
        return {"configurable": configurable}

    def _stored(self, config: RunnableConfig, checkpoint: Checkpoint) -> RunnableConfig:
        """What ``put`` returns: the config of the checkpoint just stored."""
        conf = config["configurable"]
        ns = conf.get("checkpoint_ns", "")
        return self._config(config, str(conf["thread_id"]), ns, checkpoint["id"])

    def _tuple(self, config: RunnableConfig | None, found: Found) -> CheckpointTuple:
        data = found.entry.data
        thread_id = str((config or {}).get("configurable", {}).get("thread_id", ""))
        checkpoint, metadata = fmt.read_checkpoint(self.serde, found.entry, found.holders)
        parent = data["parent_checkpoint_id"]
        ns = data["checkpoint_ns"]
        return CheckpointTuple(
            config=self._config(config, thread_id, ns, data["checkpoint_id"]),
            checkpoint=checkpoint,
            metadata=metadata,  # type: ignore[arg-type]
            parent_config=None if parent is None else self._config(config, thread_id, ns, parent),
            pending_writes=fmt.pending_writes(self.serde, found.writes),
        )

    def _get_op(self, config: RunnableConfig) -> Op[Found | None]:
        conf = config["configurable"]
        return ops.get(
            str(conf["thread_id"]),
            conf.get("checkpoint_ns", ""),
            get_checkpoint_id(config),
            self._owner(config),
        )

    def _list_op(self, config: RunnableConfig | None) -> Op[list[tuple[RunnableConfig, Found]]]:
        owner = self._owner(config)
        if config is not None:
            threads = [str(config["configurable"]["thread_id"])]
        else:
            threads = yield from ops.thread_ids(self.agent, owner)
        found: list[tuple[RunnableConfig, Found]] = []
        for thread_id in threads:
            exported = yield from ops.export(thread_id, owner)
            if exported is not None:
                scope = self._config(config, thread_id, "", "")
                found.extend((scope, item) for item in ops.found_in(exported))
        return found

    def _listed(
        self,
        config: RunnableConfig | None,
        found: list[tuple[RunnableConfig, Found]],
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        ns = None if config is None else config["configurable"].get("checkpoint_ns")
        wanted = None if config is None else get_checkpoint_id(config)
        cursor = None if before is None else get_checkpoint_id(before)
        rows = []
        for scope, item in found:
            data = item.entry.data
            if ns is not None and data["checkpoint_ns"] != ns:
                continue
            if wanted is not None and data["checkpoint_id"] != wanted:
                continue
            if cursor is not None and data["checkpoint_id"] >= cursor:
                continue
            rows.append((data["checkpoint_id"], scope, item))
        rows.sort(key=lambda row: row[0], reverse=True)
        result: list[CheckpointTuple] = []
        for _, scope, item in rows:
            if limit is not None and len(result) >= limit:
                break
            tup = self._tuple(scope, item)
            if filter and any(tup.metadata.get(k) != v for k, v in filter.items()):
                continue
            result.append(tup)
        return result

    def _put_op(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        limit: int | None,
    ) -> Op[None]:
        conf = config["configurable"]
        return ops.put(
            self.serde,
            limit,
            self.agent,
            thread_id=str(conf["thread_id"]),
            ns=conf.get("checkpoint_ns", ""),
            parent_id=conf.get("checkpoint_id"),
            checkpoint=checkpoint,
            metadata=get_serializable_checkpoint_metadata(config, metadata),
            new_versions=new_versions,
            owner=self._owner(config),
        )

    def _writes_op(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
        limit: int | None,
    ) -> Op[None]:
        conf = config["configurable"]
        return ops.put_writes(
            self.serde,
            limit,
            self.agent,
            thread_id=str(conf["thread_id"]),
            ns=conf.get("checkpoint_ns", ""),
            checkpoint_id=conf["checkpoint_id"],
            writes=writes,
            task_id=task_id,
            task_path=task_path,
            owner=self._owner(config),
        )

    def _prune_op(self, thread_ids: Sequence[str], strategy: str, limit: int | None) -> Op[None]:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}")
        for thread_id in thread_ids:
            if strategy == "delete":
                yield from ops.delete(thread_id)
            else:
                yield from ops.keep_latest(limit, thread_id)

    # -- sync --------------------------------------------------------------------

    def _manager(self) -> SessionManager:
        if self._sync is None:
            if self._url is None:
                raise TypeError(
                    "the sync methods (graph.invoke) need a SessionManager or a store URL;"
                    " use graph.ainvoke with an AsyncSessionManager"
                )
            self._sync = SessionManager(self._url)
        return self._sync

    def _run(self, op: Op[ops.T], thread_id: str | None = None) -> ops.T:
        if thread_id is None:
            return ops.drive(self._manager(), op)
        with self._guard:
            lock = self._locks.setdefault(thread_id, threading.Lock())
        with lock:
            return ops.drive(self._manager(), op)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        found = self._run(self._get_op(config))
        return None if found is None else self._tuple(config, found)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._listed(config, self._run(self._list_op(config)), filter, before, limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        limit = self._manager().max_entry_bytes
        op = self._put_op(config, checkpoint, metadata, new_versions, limit)
        self._run(op, str(config["configurable"]["thread_id"]))
        return self._stored(config, checkpoint)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        limit = self._manager().max_entry_bytes
        thread_id = str(config["configurable"]["thread_id"])
        deadline = time.monotonic() + _WAIT_SECONDS
        while True:
            try:
                return self._run(
                    self._writes_op(config, writes, task_id, task_path, limit), thread_id
                )
            except ops.NotYet:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def delete_thread(self, thread_id: str) -> None:
        self._run(ops.delete(str(thread_id)))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(ops.copy(str(source_thread_id), str(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        limit = self._manager().max_entry_bytes
        self._run(self._prune_op(thread_ids, strategy, limit))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        limit = self._manager().max_entry_bytes
        self._run(ops.delete_runs(self.serde, limit, self.agent, run_ids))

    def close(self) -> None:
        """Close the sync manager opened from a URL."""
        if self._url is not None and self._sync is not None:
            self._sync.close()
            self._sync = None

    # -- async -------------------------------------------------------------------

    def _amanager(self) -> AsyncSessionManager:
        if self._async is None:
            if self._url is None:
                raise TypeError(
                    "the async methods (graph.ainvoke) need an AsyncSessionManager or a"
                    " store URL; use graph.invoke with a SessionManager"
                )
            self._async = AsyncSessionManager(self._url)
        return self._async

    async def _arun(self, op: Op[ops.T], thread_id: str | None = None) -> ops.T:
        if thread_id is None:
            return await ops.adrive(self._amanager(), op)
        with self._guard:
            lock = self._alocks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            return await ops.adrive(self._amanager(), op)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        found = await self._arun(self._get_op(config))
        return None if found is None else self._tuple(config, found)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for tup in self._listed(
            config, await self._arun(self._list_op(config)), filter, before, limit
        ):
            yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        limit = self._amanager().max_entry_bytes
        op = self._put_op(config, checkpoint, metadata, new_versions, limit)
        await self._arun(op, str(config["configurable"]["thread_id"]))
        return self._stored(config, checkpoint)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        limit = self._amanager().max_entry_bytes
        thread_id = str(config["configurable"]["thread_id"])
        deadline = time.monotonic() + _WAIT_SECONDS
        while True:
            try:
                op = self._writes_op(config, writes, task_id, task_path, limit)
                return await self._arun(op, thread_id)
            except ops.NotYet:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.005)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(ops.delete(str(thread_id)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(ops.copy(str(source_thread_id), str(target_thread_id)))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        limit = self._amanager().max_entry_bytes
        await self._arun(self._prune_op(thread_ids, strategy, limit))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        limit = self._amanager().max_entry_bytes
        await self._arun(ops.delete_runs(self.serde, limit, self.agent, run_ids))

    async def aclose(self) -> None:
        """Close the managers opened from a URL."""
        self.close()
        if self._url is not None and self._async is not None:
            await self._async.close()
            self._async = None
