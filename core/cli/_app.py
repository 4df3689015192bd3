"""The command group, where its store comes from, and how it speaks.

The store: ``--store``, else the configuration file's ``store``, else
``$AGENTSESSION_STORE_URL``, else the library's default SQLite file. Every
command takes ``--store``, ``--config`` and ``--json`` (before or after its
name). Human output goes through Rich; ``--json`` prints one JSON document
on stdout. Passwords in URLs and error texts are never printed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from agentsession import (
    UNCHECKED,
    AgentSessionError,
    InvalidInput,
    SessionInfo,
    SessionManager,
    Unchecked,
)
from agentsession.config import Config, load_config

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "IdCommand",
    "State",
    "add_commands",
    "cli",
    "common",
    "owner",
    "owner_option",
    "pass_state",
    "redact",
    "table",
    "walk",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_SECRET_PARAMS = frozenset({"password", "passwd", "sslpassword", "token", "secret"})

F = TypeVar("F", bound=Callable[..., Any])


def redact(url: str) -> str:
    """``url`` with its password (and password-like query values) as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a store URL that cannot be parsed>"
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        url = url.replace(parts.netloc, f"{user}:***@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            hidden = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
            url = url.replace(parts.query, urlencode(hidden, safe="/:*"), 1)
    return url


def _secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        return found + [v for k, v in pairs if k.lower() in _SECRET_PARAMS and v]
    except ValueError:
        return []


@dataclass
class State:
    """What one run of the command knows: the options, the config, the manager."""

    store_option: str | None = None
    config_option: str | None = None
    as_json: bool = False
    resume_hint: str | None = None
    opener: Callable[[], SessionManager] | None = None
    _config: Config | None = None
    _manager: SessionManager | None = None
    _scrub: list[str] = field(default_factory=list)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_option)
        return self._config

    def store_url(self) -> tuple[str, str]:
        """The store's URL and where it came from."""
        from agentsession import default_store_url

        if self.store_option:
            url, source = self.store_option, "--store"
        elif self.config().store:
            url, source = str(self.config().store), str(self.config().path)
        elif os.environ.get("AGENTSESSION_STORE_URL"):
            url, source = default_store_url(), "AGENTSESSION_STORE_URL"
        else:
            url, source = default_store_url(), "the default"
        self.hide(url)
        return url, source

    def hide(self, url: str) -> None:
        """Never print the secrets of ``url`` (see :meth:`scrub`)."""
        self._scrub += [s for s in _secrets(url) if s not in self._scrub]

    def describe(self) -> str:
        """Which store, for ``doctor`` (its password hidden)."""
        if self.opener is not None and not self.store_option:
            return "the app's store"
        url, source = self.store_url()
        return f"{redact(url)} (from {source})"

    def manager(self) -> SessionManager:
        if self._manager is None:
            if self.opener is not None and not self.store_option:
                return self.opener()  # the app's: it closes it, not us
            url, _ = self.store_url()
            config = self.config()
            self._manager = SessionManager(config.sync_store(url), **config.manager_options())
        return self._manager

    def close(self) -> None:
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.close()

    def scrub(self, text: str) -> str:
        """``text`` with any secret of the store URL replaced."""
        for secret in self._scrub:
            text = text.replace(secret, "***")
        return text

    @property
    def out(self) -> Console:
        # Piped output is not cut to 80 columns: ids stay whole for grep and cut.
        return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)

    def emit(self, document: Any, human: Callable[[Console], None]) -> None:
        """Print ``document`` as JSON under ``--json``, else call ``human``."""
        if self.as_json:
            click.echo(json.dumps(document, ensure_ascii=False, default=str))
        else:
            human(self.out)

    @contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int], None]]:
        """A progress bar on a terminal's stderr (none when piped or ``--json``);
        yields ``advance(done)`` to call with the count so far."""
        if self.as_json or not sys.stderr.isatty():
            yield lambda done: None
            return
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with bar:
            task = bar.add_task(label, total=None)
            yield lambda done: bar.update(task, completed=done)


def table(*columns: str) -> Table:
    """A plain table with these column headings."""
    grid = Table(show_edge=False, header_style="bold")
    for name in columns:
        grid.add_column(name, no_wrap=name in ("id", "session", "checkpoint", "entry"))
    return grid


def _state(ctx: click.Context) -> State:
    state = ctx.find_object(State)
    if state is None:
        state = ctx.ensure_object(State)
        parent: click.Context | None = ctx
        while parent is not None and state.opener is None:
            state.opener = _OPENERS.get(parent.command)
            parent = parent.parent
    return state


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value not in (None, False):
            setattr(_state(ctx), name, value)

    return callback


def common(command: F) -> F:
    """The options every command takes, after its name as before it."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


_OPTIONS = (
    click.option(
        "--store",
        metavar="URL",
        expose_value=False,
        callback=_set("store_option"),
        help="store URL (else the config file's, $AGENTSESSION_STORE_URL, the default)",
    ),
    click.option(
        "--config",
        metavar="PATH",
        expose_value=False,
        callback=_set("config_option"),
        help="configuration file (else $AGENTSESSION_CONFIG, ./agentsession.toml, ...)",
    ),
    click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_set("as_json"),
        help="print one JSON document instead of tables",
    ),
)


_ID_TOKEN = re.compile(r"-[A-Za-z0-9_-]{0,127}")


class IdCommand(click.Command):
    """A command taking a session id, which may start with ``-`` (ids are
    base64url): a token that is none of the command's options is the id, as
    if it came after ``--``. So ``show -hX...`` shows that session, and
    ``export -oX...`` exports it, rather than reading ``-h`` or ``-o``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            return super().parse_args(ctx, args)
        takes_value = {
            name: not option.is_flag and not option.count
            for option in self.get_params(ctx)
            if isinstance(option, click.Option)
            for name in (*option.opts, *option.secondary_opts)
        }
        kept: list[str] = []
        ids: list[str] = []
        tokens = iter(args)
        for token in tokens:
            name = token.split("=", 1)[0]
            if name not in takes_value and _ID_TOKEN.fullmatch(token):
                ids.append(token)
                continue
            kept.append(token)
            value = next(tokens, None) if takes_value.get(token) else None
            if value is not None:  # an option's value, whatever it looks like
                kept.append(value)
        return super().parse_args(ctx, [*kept, "--", *ids] if ids else kept)


def pass_state(command: Callable[..., None]) -> Callable[..., None]:
    """Call ``command`` with the run's :class:`State`, and turn the library's
    errors and Ctrl+C into messages and exit codes (under whatever group the
    command is: ours, Flask's or Django's); the store is closed at the end."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        ctx = click.get_current_context()
        state = _state(ctx)
        try:
            command(state, *args, **kwargs)
        except KeyboardInterrupt:
            hint = state.resume_hint or "run the same command again"
            click.echo(f"interrupted: the store is consistent; {hint}", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except AgentSessionError as exc:
            code = EXIT_USAGE if isinstance(exc, InvalidInput) else EXIT_PROBLEMS
            message = state.scrub(str(exc)) or type(exc).__name__
            if state.as_json:
                click.echo(json.dumps({"error": type(exc).__name__, "message": message}))
            click.echo(f"error: {type(exc).__name__}: {message}", err=True)
            ctx.exit(code)
        except ImportError as exc:  # a store's driver: the message names its extra
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        finally:
            state.close()

    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common
@click.version_option(package_name="agentsession")
def cli() -> None:
    """Operate an agentsession store: list, show, export, import, migrate,
    prune, verify, stats, doctor.

    Exit codes: 0 ok, 1 problems found (damage, conflicts, failures, a store
    that cannot be reached), 2 usage (bad options, bad config), 130
    interrupted (Ctrl+C).
    """


#: Groups of web frameworks' command lines -> how they open their app's manager.
_OPENERS: weakref.WeakKeyDictionary[click.Command, Callable[[], SessionManager]] = (
    weakref.WeakKeyDictionary()
)


def add_commands(group: click.Group, opener: Callable[[], SessionManager]) -> None:
    """Add every command to ``group`` (those it has already stay), working on
    the manager ``opener`` returns unless ``--store`` names another; that
    manager is the caller's and is not closed. How ``flask agentsession``
    and ``manage.py agentsession`` get the commands."""
    _OPENERS[group] = opener
    for name, command in cli.commands.items():
        if name not in group.commands:
            group.add_command(command)


def walk(
    manager: SessionManager,
    *,
    agent: str | None = None,
    user_id: str | Unchecked | None = UNCHECKED,
    page: int = 500,
) -> Iterator[SessionInfo]:
    """Every live session the filters name, newest first, a page at a time
    (a session written meanwhile may move past a page boundary: stop the
    writers for an exact snapshot)."""
    offset = 0
    while True:
        rows = manager.list(agent, user_id=user_id, limit=page, offset=offset)
        yield from rows
        offset += len(rows)
        if len(rows) < page:
            return


def owner_option(command: F) -> F:
    """``--user`` / ``--anonymous``: the owner filter of a listing."""
    command = click.option("--anonymous", is_flag=True, help="only sessions without an owner")(
        command
    )
    return click.option("--user", metavar="USER_ID", help="only this user's sessions")(command)


def owner(user: str | None, anonymous: bool) -> str | Unchecked | None:
    """The ``user_id`` filter the options name."""
    if user is not None and anonymous:
        raise click.UsageError("--user and --anonymous exclude each other")
    return None if anonymous else UNCHECKED if user is None else user
