"""agentsession: durable conversation memory for AI agents.

History that survives restarts, checkpoints you can roll back to, branches,
and many storage back ends -- sync and async with the same names and meaning::

    from agentsession import SessionManager

    with SessionManager("sqlite:///sessions.db") as sessions:
        s = sessions.create("assistant", user_id="alice")
        s.append({"role": "user", "content": "My name is Alice."})
        cp = s.checkpoint("named")
        ...
        s.restore(cp.id)
"""

from __future__ import annotations

from ._async.manager import AsyncSessionManager
from ._async.migrate import migrate as migrate_async
from ._async.protocol import AsyncStore
from ._async.session import AsyncMemoryReader, AsyncSession
from ._async.turn_stream import AsyncTurnStream
from ._audit import AuditEvent
from ._context import current_session, use_session
from ._exceptions import (
    AccessDenied,
    AgentSessionError,
    BlockingCallInEventLoop,
    CheckpointNotFound,
    ConfigError,
    ConflictError,
    DecryptionError,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    MissingKey,
    NoSessionInContext,
    SearchUnavailable,
    SessionNotFound,
    StoreClosed,
    StoreUnavailable,
)
from ._models import (
    UNCHECKED,
    Branch,
    Checkpoint,
    Entry,
    ManagerOptions,
    MigrationReport,
    SearchHit,
    SessionInfo,
    Unchecked,
)
from ._registry import default_store_url, open_async_store, open_store, register_store
from ._sync.manager import SessionManager
from ._sync.migrate import migrate
from ._sync.protocol import Store
from ._sync.session import MemoryReader, Session
from ._sync.turn_stream import TurnStream
from ._turns import CallOptions, Checkpointable, MemoryAware, SessionAware, Turn, TurnOptions
from ._windows import TokenCounter, approx_tokens, tiktoken_counter

__version__ = "0.1.0"

__all__ = [
    "UNCHECKED",
    "AccessDenied",
    "AgentSessionError",
    "AsyncMemoryReader",
    "AsyncSession",
    "AsyncSessionManager",
    "AsyncStore",
    "AsyncTurnStream",
    "AuditEvent",
    "BlockingCallInEventLoop",
    "Branch",
    "CallOptions",
    "Checkpoint",
    "CheckpointNotFound",
    "Checkpointable",
    "ConfigError",
    "ConflictError",
    "DecryptionError",
    "Entry",
    "IntegrityError",
    "InvalidInput",
    "LimitExceeded",
    "ManagerOptions",
    "MemoryAware",
    "MemoryReader",
    "MigrationReport",
    "MissingKey",
    "NoSessionInContext",
    "SearchHit",
    "SearchUnavailable",
    "Session",
    "SessionAware",
    "SessionInfo",
    "SessionManager",
    "SessionNotFound",
    "Store",
    "StoreClosed",
    "StoreUnavailable",
    "TokenCounter",
    "Turn",
    "TurnOptions",
    "TurnStream",
    "Unchecked",
    "approx_tokens",
    "current_session",
    "default_store_url",
    "migrate",
    "migrate_async",
    "open_async_store",
    "open_store",
    "register_store",
    "tiktoken_counter",
    "use_session",
]
