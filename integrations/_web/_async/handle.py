"""``AsyncLazySession``: the session a web request gets, created on first write.

It has the methods of :class:`~agentsession.AsyncSession`, taken from that
class: a call the session marks as a read answers, before the session exists,
what it would on an empty one (``messages()`` -> ``[]``, ``state()`` -> ``{}``)
without touching the store; every other call writes, and the first write
creates the session, owned by the logged-in user if any. The id the request
named is checked on first use (once per request): its row is read and its
owner judged before any history is read, so refusing someone else's session
costs what refusing an unknown id does. See ``docs/design.md``, "Web layer".
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentsession import AsyncSession, AsyncSessionManager, SessionInfo, SessionNotFound

from .._twins import async_lock
from ..resolution import RequestState, Verdict
from .deferred import AsyncDeferredCreate

__all__ = ["AsyncLazySession"]

if TYPE_CHECKING:
    # Views are type-checked against the session's own signatures.
    _Face = AsyncSession
else:
    _Face = object


class AsyncLazySession(_Face):
    """The request's session, resolved on first use and created on first write.

    Frameworks build it from their app's manager and the request's
    :class:`RequestState`; views get it from the framework
    (``request.state.agent_session``, ...).
    """

    def __init__(self, manager: AsyncSessionManager, state: RequestState) -> None:
        self._manager = manager
        self._state = state
        self._session: AsyncSession | None = None
        self._lock = async_lock()

    def __repr__(self) -> str:
        # The id is a bearer token: never in reprs or logs.
        return f"<AsyncLazySession agent={self.agent!r} exists={self.exists}>"

    # -- snapshot properties ---------------------------------------------------

    @property
    def info(self) -> SessionInfo | None:  # type: ignore[override]
        """The row as last read or written; ``None`` until the session has been
        loaded (by any call) or created (by the first write)."""
        return self._session.info if self._session is not None else self._state.info

    @property
    def exists(self) -> bool:
        """Whether a stored session is known to back this handle (see :attr:`info`)."""
        return self.info is not None

    @property
    def id(self) -> str | None:  # type: ignore[override]
        """The session's id; ``None`` before it exists."""
        info = self.info
        return info.id if info is not None else None

    @property
    def agent(self) -> str:
        """The agent name sessions of this app are created with."""
        return self._state.settings.agent

    @property
    def user_id(self) -> str | None:
        """The owner: the session's, or before it exists the request's user."""
        info = self.info
        return info.user_id if info is not None else self._state.user_id

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the session's metadata (``{}`` before it exists)."""
        info = self.info
        return dict(info.metadata) if info is not None else {}

    # -- resolution ------------------------------------------------------------

    async def get(self) -> AsyncSession | None:
        """The stored session, or ``None`` if the request has none yet.

        Raises:
            SessionNotFound: the request's header named a session it cannot
                have (unknown, expired, deleted or someone else's).
        """
        if self._session is not None:
            self._state.touched = True
            return self._session
        # Taken once a request, on its first call: acquire and release, without
        # the context manager's two extra calls.
        await self._lock.acquire()
        try:
            if self._session is None:
                self._session = await self._resolve()
            return self._session
        finally:
            self._lock.release()

    async def get_or_create(self) -> AsyncSession:
        """The stored session, created now (for the current user) if needed."""
        session = await self.get()
        if session is not None:
            return session
        created: AsyncSession = await self._create(None)
        return created

    async def _resolve(self) -> AsyncSession | None:
        candidate = self._state.pending()
        if candidate is None:
            info = self._state.info  # checked or created through the twin handle, or none
            return AsyncSession(self._manager, info) if info is not None else None
        try:
            # The row only: the owner is judged before any history is read.
            found: AsyncSession | None = await self._manager.get(candidate)
        except SessionNotFound:
            found = None
        verdict = self._state.judge(found.info if found is not None else None)
        if verdict is Verdict.ACCEPT:
            return found
        if verdict is Verdict.CLAIM:
            try:
                claimed = await self._manager.rotate_id(candidate, user_id=self._state.user_id)
            except SessionNotFound:  # claimed by a concurrent request first
                self._state.judge(None)
                return None
            self._state.issue(claimed.info)
            return claimed
        return None

    async def _create(self, first: Callable[[AsyncSession], Any] | None) -> Any:
        """The session created now, with its first write ``first(session)``
        (whose result is returned), unless the twin handle created it already."""
        async with self._lock:
            if self._session is None:
                if self._state.info is None:
                    return await self._create_with(first)
                self._session = AsyncSession(self._manager, self._state.info)
            session = self._session
        return await first(session) if first is not None else session

    async def _create_with(self, first: Callable[[AsyncSession], Any] | None) -> Any:
        # The row is held back until the write's first store call, so a write
        # its own checks refuse (bad data, a bad checkpoint name) stores
        # nothing and sets no cookie; the data is checked once, by the write.
        store = AsyncDeferredCreate(self._manager.store)
        fresh = await self._manager.with_store(store).create(
            self.agent, user_id=self._state.user_id
        )
        try:
            result = await first(fresh) if first is not None else fresh
        except BaseException:
            # Refused by the store after the row went in (a stale
            # expected_head, a limit): nobody has the id yet, so erase it.
            if store.flushed:
                with contextlib.suppress(Exception):
                    await self._manager.delete(fresh.id)
            raise
        await store.flush()  # no store call yet (get_or_create): create the row now
        self._session = AsyncSession(self._manager, fresh.info)
        self._state.issue(fresh.info)
        return result if first is not None else self._session

    async def delete(self) -> bool:
        """Erase the session and drop the cookie; the next write starts a new
        one. ``False`` if there was nothing to delete."""
        session = await self.get()
        if session is None:
            return False
        async with self._lock:
            deleted = await self._manager.delete(session.id)
            self._session = None
            self._state.forget()
        return deleted


def _call(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    before_creation = getattr(method, "before_creation", None)
    if before_creation is not None:

        async def call(self: AsyncLazySession, /, *args: Any, **kwargs: Any) -> Any:
            session = await self.get()
            if session is None:
                return before_creation(*args, **kwargs)
            return await getattr(session, name)(*args, **kwargs)

    else:

        async def call(self: AsyncLazySession, /, *args: Any, **kwargs: Any) -> Any:
            session = await self.get()
            if session is None:
                return await self._create(lambda fresh: getattr(fresh, name)(*args, **kwargs))
            return await getattr(session, name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = f"AsyncLazySession.{name}"
    call.__doc__ = method.__doc__
    return call


def _row(name: str) -> property:
    def get(self: AsyncLazySession) -> Any:
        info = self.info
        return getattr(info, name) if info is not None else _EMPTY_ROW.get(name)

    return property(get, doc=f"The session's ``{name}`` (before it exists: as a new one's).")


#: Row properties before the session exists, as on a new session.
_EMPTY_ROW: dict[str, Any] = {"message_count": 0, "revision": 0}

for _name, _member in vars(AsyncSession).items():
    if _name.startswith("_") or _name in vars(AsyncLazySession):
        continue
    if inspect.isfunction(_member):
        setattr(AsyncLazySession, _name, _call(_name, _member))
    elif isinstance(_member, property):
        setattr(AsyncLazySession, _name, _row(_name))
