"""Where the JSONL file store keeps things under its base directory.

::

    <base>/<agent>/<session_id>.jsonl      the session: an append-only log
    <base>/<agent>/.recent                 listing index: the agent's sessions
    <base>/.ids/<session_id>               symlink -> ../<agent>/<id>.jsonl
    <base>/.owners/<owner>/<agent>/<id>    symlink -> ../../../<agent>/<id>.jsonl
    <base>/.owners/<owner>/<agent>/.recent listing index: the owner's sessions of the agent
    <base>/.snapshots/<session_id>         the session's replayed state, up to an offset
    <base>/.lock                           flock'ed by create/delete/rotate/import/prune

``<owner>`` is ``anonymous`` or the first 32 hex digits of the SHA-256 of the
user id, never the raw user id. Names starting with a dot cannot be agent
names or ids, so the bookkeeping never collides with an agent's directory or
a session. The ``.ids`` link is written last when a session is made and
removed first when it is erased: it is the commit point, and anything else
without one is a leftover of a crash that listing skips. A session file's
mtime is set to the session's ``updated_at`` on every write, so a listing
orders its candidates by one ``stat`` each; the ``.recent`` journals
(:mod:`agentsession.stores.file._recent`) say which sessions to ``stat``, and
the snapshots (:mod:`agentsession.stores.file._snapshot`) spare a new process
replaying a long file. Both are caches of the session files: rebuilt, or not
used, when missing or damaged (``docs/design.md``, "File store indexes").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

from agentsession._exceptions import InvalidInput
from agentsession._registry import url_switch
from agentsession.stores.file._format import owner_key

__all__ = ["Layout", "parse_file_url"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def parse_file_url(url: str) -> tuple[str, bool]:
    """``file:///abs/dir`` (optionally ``?fsync=true``) -> ``(path, fsync)``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise InvalidInput("a file store URL looks like file:///absolute/directory")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidInput("a file store URL needs an absolute path: file:///absolute/directory")
    fsync = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "fsync":
            raise InvalidInput("the only file store URL option is fsync=true|false")
        fsync = url_switch(value, "fsync")
    return path, fsync


class Layout:
    """Paths under one base directory, and the directory operations on them."""

    def __init__(self, base: str, *, fsync: bool) -> None:
        self.base = base
        self.fsync = fsync
        self.ids = os.path.join(base, ".ids")
        self.owners = os.path.join(base, ".owners")
        self.lock_file = os.path.join(base, ".lock")
        self.snapshots = os.path.join(base, ".snapshots")
        self._made: set[str] = set()

    def session_file(self, agent: str, session_id: str) -> str:
        return os.path.join(self.base, agent, session_id + ".jsonl")

    def id_link(self, session_id: str) -> str:
        return os.path.join(self.ids, session_id)

    def owner_link(self, user_id: str | None, agent: str, session_id: str) -> str:
        return os.path.join(self.owners, owner_key(user_id), agent, session_id)

    def snapshot_file(self, session_id: str) -> str:
        return os.path.join(self.snapshots, session_id)

    def makedirs(self, path: str) -> None:
        """``os.makedirs``, but every directory it creates is 0700, not only the last."""
        if path in self._made:
            return
        try:
            os.mkdir(path, DIR_MODE)
        except FileNotFoundError:
            self.makedirs(os.path.dirname(path))
            with contextlib.suppress(FileExistsError):  # another process was first
                os.mkdir(path, DIR_MODE)
        except FileExistsError:
            pass
        self._made.add(path)

    def setup(self) -> None:
        self.makedirs(self.ids)
        self.makedirs(self.owners)

    def sync_dir(self, path: str) -> None:
        """Make a directory's entries durable (only with ``fsync=True``)."""
        if self.fsync:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def link(self, agent: str, session_id: str, user_id: str | None) -> None:
        """Publish a written session file: owner link, then the ``.ids`` link."""
        target = os.path.join("..", agent, session_id + ".jsonl")
        owner = self.owner_link(user_id, agent, session_id)
        self.makedirs(os.path.dirname(owner))
        unlink_quietly(owner)  # a crash's leftover
        os.symlink(os.path.join("..", "..", target), owner)
        for path in (os.path.join(self.base, agent), os.path.dirname(owner)):
            self.sync_dir(path)  # with fsync: on disk before the link that commits
        os.symlink(target, self.id_link(session_id))
        self.sync_dir(self.ids)

    def unlink(self, agent: str, session_id: str, user_id: str | None) -> None:
        """Erase a session: the ``.ids`` link first (the commit), then the rest."""
        unlink_quietly(self.id_link(session_id))
        self.sync_dir(self.ids)
        unlink_quietly(self.owner_link(user_id, agent, session_id))
        unlink_quietly(self.session_file(agent, session_id))
        unlink_quietly(self.snapshot_file(session_id))

    def create_file(self, agent: str, session_id: str) -> int:
        """A new, empty session file (a crash's leftover of the same name is replaced)."""
        directory = os.path.join(self.base, agent)
        self.makedirs(directory)
        path = self.session_file(agent, session_id)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(path, flags, FILE_MODE)
        except FileExistsError:
            os.unlink(path)  # not linked from .ids (we hold the id lock): a leftover
            return os.open(path, flags, FILE_MODE)

    def candidates(self, agent: str | None, owner: str | None) -> Iterator[tuple[int, str]]:
        """``(mtime_ns, session_id)`` of every file that may belong to a listing.

        ``owner=None``: any owner; else an :func:`owner_key`. Broken links and
        leftovers are yielded too or skipped; the caller checks each row.
        """
        if owner is None:
            if agent is None:
                yield from _scan(self.ids, "")
            else:
                yield from _scan(os.path.join(self.base, agent), ".jsonl")
            return
        root = os.path.join(self.owners, owner)
        if agent is not None:
            yield from _scan(os.path.join(root, agent), "")
            return
        try:
            agents = os.listdir(root)
        except FileNotFoundError:
            return
        for name in agents:
            yield from _scan(os.path.join(root, name), "")


def _scan(directory: str, suffix: str) -> Iterator[tuple[int, str]]:
    try:
        listing = os.scandir(directory)
    except FileNotFoundError:
        return
    with listing:
        for item in listing:
            name = item.name
            if name.startswith(".") or not name.endswith(suffix):
                continue
            try:
                mtime = item.stat().st_mtime_ns  # follows the link to the session file
            except FileNotFoundError:
                continue
            yield mtime, name[: len(name) - len(suffix)]


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
