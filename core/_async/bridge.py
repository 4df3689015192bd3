"""The one bridge: a store made of another object's calls, each run by a runner.

:data:`STORE_METHODS` is the store protocol's list of calls, read off the
protocol class itself. :class:`AsyncBridge` is a complete store whose every
call looks up the same-named callable of its target and hands it, with its
arguments, to a runner; the methods are installed from that list once, so
adding a protocol method changes nothing here. Every wrapper that turns one
kind of store into the other is one of these with its own runner: the
embedded stores (a worker thread, or a lock in the caller's thread), the
memory store (inline), Django's ORM store under ASGI (``sync_to_async``) and
a sync view's store under ASGI (each call sent back to the event loop).

See ``docs/design.md``, "Store protocol".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .protocol import AsyncStore

__all__ = ["GROUP", "QUICK", "STORE_METHODS", "AsyncBridge", "AsyncCallRunner", "AsyncQuickRunner"]

T = TypeVar("T")

#: The protocol's calls, in the order the protocol declares them.
STORE_METHODS: tuple[str, ...] = tuple(
    name for name, value in vars(AsyncStore).items() if callable(value) and name[0] != "_"
)


class AsyncCallRunner(Protocol):
    """Where a bridge's calls run."""

    async def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` (one whole store call) and return its result."""
        ...

    async def close(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (release the target) once; later runs raise ``StoreClosed``."""
        ...


class AsyncQuickRunner(AsyncCallRunner, Protocol):
    """A runner that may run a call it is told is short in a cheaper way, and
    calls that may share one transaction together."""

    async def run_quick(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` like :meth:`run`; it is known to be short."""
        ...

    async def run_grouped(self, fn: Callable[[], T], quick: bool) -> T:
        """Call ``fn`` like :meth:`run`, maybe in one transaction with the
        grouped calls made beside it; ``quick``: it is known to be short."""
        ...


#: A classifier's flags for a call: short (``run_quick``), or groupable
#: (``run_grouped``: a write that may share a transaction), or both.
QUICK = 1
GROUP = 2

#: Given a protocol call's name and arguments: its flags (0: neither).
Classifier = Callable[[str, tuple[Any, ...], dict[str, Any]], int]


if TYPE_CHECKING:
    # The type checker sees the protocol's signatures on every bridge (a
    # user's ``store.append(...)`` is checked); at run time the methods below
    # are installed from STORE_METHODS instead.
    _Face = AsyncStore
else:
    _Face = object


class AsyncBridge(_Face):
    """An :class:`AsyncStore` whose calls are ``resolve(name)``'s, run by ``runner``.

    Args:
        resolve: given a method name of the protocol, the callable that does
            that call (called once per name, here).
        runner: runs each call; its ``close`` runs ``release``.
        release: frees what the target holds, on :meth:`close`.
        quick: says which calls are short (``QUICK``: ``runner.run_quick``)
            or groupable (``GROUP``: ``runner.run_grouped``).
    """

    def __init__(
        self,
        resolve: Callable[[str], Callable[..., Any]],
        runner: AsyncCallRunner,
        release: Callable[[], None],
        *,
        quick: tuple[Classifier, AsyncQuickRunner] | None = None,
    ) -> None:
        self._calls = {name: resolve(name) for name in STORE_METHODS if name != "close"}
        self._runner = runner
        self._release = release
        self._quick = quick

    async def close(self) -> None:
        """Release the target once every call already started is done. Idempotent."""
        await self._runner.close(self._release)


def _forward(name: str) -> Callable[..., Any]:
    async def call(self: AsyncBridge, /, *args: Any, **kwargs: Any) -> Any:
        fn = functools.partial(self._calls[name], *args, **kwargs)
        if self._quick is not None:
            flags = self._quick[0](name, args, kwargs)
            if flags & GROUP:
                return await self._quick[1].run_grouped(fn, bool(flags & QUICK))
            if flags:
                return await self._quick[1].run_quick(fn)
        return await self._runner.run(fn)

    call.__name__ = name
    call.__qualname__ = f"{AsyncBridge.__name__}.{name}"
    call.__doc__ = getattr(AsyncStore, name).__doc__
    return call


for _name in STORE_METHODS:
    if _name != "close":
        setattr(AsyncBridge, _name, _forward(_name))
