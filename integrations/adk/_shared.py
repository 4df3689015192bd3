"""The app and user state ledgers (``docs/adk.md``, "State and atomicity").

A ledger is an agentsession session holding one kind of entry: the whole
shared state and the intents still *pending* (``{"s": session, "e": entry,
"h": the head the writer expects, "at": time, "d": delta}``). It is rewritten
by compare-and-swap on its head, so concurrent writers of one app or user
queue up, and it is read with ``read_path(limit=1)``: one round trip.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from agentsession import (
    AsyncSession,
    AsyncSessionManager,
    ConflictError,
    InvalidInput,
    SessionInfo,
    SessionNotFound,
)
from agentsession.store import expiry_after_write, prepare_entry

__all__ = ["LEDGER_AGENT", "SharedState"]

LEDGER_AGENT: Final = "adk-state"
_LEDGER_KIND: Final = "adk_ledger"
_FENCE_KIND: Final = "adk_fence"
_ATTEMPTS: Final = 64


class _Ledger:
    """One ledger's last entry, read: its state and pending intents."""

    def __init__(self, info: SessionInfo | None, data: Mapping[str, Any]) -> None:
        self.info = info
        self.state: dict[str, Any] = dict(data.get("state", {}))
        self.pending: list[dict[str, Any]] = [dict(p) for p in data.get("pending", [])]


class SharedState:
    """The ledgers of one manager's store.

    Args:
        manager: the manager of the ADK sessions and ledgers.
        pending_timeout: how long an intent may stay open before a reader
            fences its writer.
    """

    def __init__(self, manager: AsyncSessionManager, pending_timeout: timedelta) -> None:
        self.manager = manager
        self.pending_timeout = pending_timeout

    async def _read(self, key: str) -> _Ledger:
        # One store call for the row and the last entry: the manager's
        # session reads have no "last entry of this kind" for other kinds
        # than messages.
        try:
            row, last = await self.manager.store.read_path(
                key, now=self.manager.now(), kind=_LEDGER_KIND, limit=1
            )
        except SessionNotFound:
            return _Ledger(None, {})
        return _Ledger(row, last[0].data if last else {})

    async def state(self, key: str) -> dict[str, Any]:
        """The ledger's state with every committed intent applied."""
        ledger = await self._read(key)
        if not ledger.pending:
            return ledger.state
        state, _ = await self._resolve(ledger, fence=None)
        return state

    async def _resolve(
        self, ledger: _Ledger, *, fence: str | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(state with the committed intents applied, the intents still
        open). An open intent older than ``pending_timeout``, or of the
        session ``fence``, is fenced first."""
        state = dict(ledger.state)
        still: list[dict[str, Any]] = []
        for intent in ledger.pending:
            committed = await self._committed(intent)
            if committed is None:
                aged = self.manager.now().timestamp() - intent["at"]
                if fence == intent["s"] or aged >= self.pending_timeout.total_seconds():
                    await self._fence(intent)
                    committed = bool(await self._committed(intent))
            if committed:
                state.update(intent["d"])
            elif committed is None:
                still.append(intent)
        return state, still

    async def _committed(self, intent: Mapping[str, Any]) -> bool | None:
        """True: its entry exists. False: its session is gone. None: open."""
        try:
            await self.manager.store.get_entry(intent["s"], intent["e"], now=self.manager.now())
        except InvalidInput:
            return None
        except SessionNotFound:
            return False
        return True

    async def _fence(self, intent: Mapping[str, Any]) -> None:
        """Make the intent's writer unable to commit: an entry under the head
        it expects moves that head (or the head has moved already)."""
        now = self.manager.now()
        fence = prepare_entry(_FENCE_KIND, {"entry": intent["e"]}, now, None)
        with contextlib.suppress(ConflictError, SessionNotFound):
            row = await self.manager.store.get_session(intent["s"], now=now)
            await self.manager.store.append(
                intent["s"],
                [fence],
                now=now,
                expires_at=expiry_after_write(now, row.idle_timeout, row.deadline),
                expected_head=intent["h"],
            )

    async def settle(
        self,
        key: str,
        *,
        add: dict[str, Any] | None = None,
        drop: str | None = None,
        fence: str | None = None,
    ) -> None:
        """Rewrite the ledger by compare-and-swap: resolved intents folded
        into its state (the committed) or dropped, ``drop`` removed, ``add``
        appended; open intents of the session ``fence`` are fenced first."""
        for _ in range(_ATTEMPTS):
            ledger = await self._read(key)
            if ledger.info is None:
                if add is None:
                    return  # no ledger: nothing pending to settle
                await self._create(key)
                continue
            state, pending = await self._resolve(ledger, fence=fence)
            pending = [p for p in pending if p["e"] != drop]
            if add is not None:
                pending.append(add)
            if state == ledger.state and pending == ledger.pending:
                return
            s = AsyncSession(self.manager, ledger.info)
            try:
                await s.append_entry(
                    _LEDGER_KIND,
                    {"state": state, "pending": pending},
                    expected_head=ledger.info.head,
                )
            except ConflictError:
                continue
            return
        raise ConflictError("the shared state kept changing while it was written")

    async def _create(self, key: str) -> None:
        with contextlib.suppress(ConflictError):  # another writer made it
            await self.manager.create(LEDGER_AGENT, session_id=key, ttl=None, idle_timeout=None)
