"""``export``, ``import`` and ``migrate``: move sessions whole, verified."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
from rich.console import Console
from rich.markup import escape

from agentsession import (
    UNCHECKED,
    AgentSessionError,
    MigrationReport,
    SessionManager,
    SessionNotFound,
    migrate,
)
from agentsession._exports import check_export
from agentsession._sync.migrate import place_export
from agentsession.exports import dump_line, load_line

from ._app import (
    EXIT_PROBLEMS,
    IdCommand,
    State,
    common,
    owner,
    owner_option,
    pass_state,
    redact,
    table,
    walk,
)

__all__ = ["register"]


def register(cli: click.Group) -> None:
    for command in (export, import_, migrate_):
        cli.add_command(command)


@click.command(cls=IdCommand)
@click.argument("session_id", required=False)
@click.option("--agent", help="only this agent's sessions")
@owner_option
@click.option("-o", "--output", metavar="FILE", help="write here (default: stdout)")
@common
@pass_state
def export(
    state: State,
    session_id: str | None,
    agent: str | None,
    user: str | None,
    anonymous: bool,
    output: str | None,
) -> None:
    """Write sessions as JSON lines: SESSION_ID, or every session the
    filters name (all of them by default)."""
    manager = state.manager()
    user_id = owner(user, anonymous)
    if session_id is not None and (agent or user_id is not UNCHECKED):
        raise click.UsageError("give a SESSION_ID or filters, not both")
    state.resume_hint = "nothing was written to the store; run the same command again"
    # To a file: written beside it and renamed at the end, never left half written.
    partial = None if output is None else f"{output}.partial"
    count = 0
    try:
        with _open(partial) as sink, state.progress("exporting") as advance:
            ids = (
                [session_id]
                if session_id
                else (i.id for i in walk(manager, agent=agent, user_id=user_id))
            )
            for each in ids:
                try:
                    line = dump_line(manager.export_session(each))
                except SessionNotFound:
                    if session_id is not None:
                        raise
                    continue  # expired or deleted since it was listed
                sink.write(line + "\n")
                count += 1
                advance(count)
        if partial is not None and output is not None:
            os.replace(partial, output)
    finally:
        if partial is not None and os.path.exists(partial):
            os.unlink(partial)
    if output is not None:
        state.emit(
            {"exported": count, "file": output},
            lambda out: out.print(f"exported {count} session(s) to {output}"),
        )
    elif not state.as_json:
        click.echo(f"exported {count} session(s)", err=True)


def _open(path: str | None) -> Any:
    if path is None:
        return _Stdout()
    # Conversations are private: only the owner reads the file (as the file store does).
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return open(descriptor, "w", encoding="utf-8")


class _Stdout:
    def __enter__(self) -> IO[str]:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()


def _lines(source: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, 1):
        if line.strip():
            yield number, line


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--check", is_flag=True, help="verify every line; write nothing")
@common
@pass_state
def import_(state: State, file: IO[str], check: bool) -> None:
    """Read JSON lines (as ``export`` writes them; FILE or - for stdin).

    Each session is checked whole (ids, JSON, digests, tree, checksums)
    before it is written; one the store already holds identical is skipped,
    a different one under the same id is a conflict and left alone.
    """
    manager = state.manager()
    report = MigrationReport()
    bad: dict[str, str] = {}
    state.resume_hint = "run the same command again: sessions already imported are skipped"
    with state.progress("checking" if check else "importing") as advance:
        for number, line in _lines(file):
            try:
                export = load_line(line)
                if check:
                    check_export(export, max_bytes=manager.max_entry_bytes)
                    report.copied += 1
                else:
                    place_export(manager, export, report)
            except AgentSessionError as exc:
                bad[f"line {number}"] = f"{type(exc).__name__}: {exc}"
            advance(number)
    for session, why in report.failed.items():
        bad[session] = why
    _report(state, report, bad, "checked" if check else "imported")


def _report(state: State, report: MigrationReport, bad: dict[str, str], verb: str) -> None:
    document = {
        verb: report.copied,
        "skipped": report.skipped,
        "conflicts": report.conflicts,
        "failed": bad,
        "ok": not report.conflicts and not bad,
    }

    def human(out: Console) -> None:
        out.print(f"{verb} {report.copied}, skipped {report.skipped} (identical already there)")
        if report.conflicts or bad:
            grid = table("session / line", "problem")
            for session_id in report.conflicts:
                grid.add_row(session_id, "a different session has this id there: left alone")
            for where, why in bad.items():
                grid.add_row(where, escape(state.scrub(why)))
            out.print(grid)

    state.emit(document, human)
    if not document["ok"]:
        raise click.exceptions.Exit(EXIT_PROBLEMS)


@click.command("migrate")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--agent", help="only this agent's sessions")
@owner_option
@common
@pass_state
def migrate_(
    state: State,
    source: str,
    destination: str,
    agent: str | None,
    user: str | None,
    anonymous: bool,
) -> None:
    """Copy every live session from store SRC to store DST (URLs).

    Each session is copied whole, read back and compared. A session DST
    already holds identical is skipped, so re-running after an interruption
    copies only what is missing; a different one is a conflict, left alone.
    """
    config = state.config().manager_options()
    state.hide(source)
    state.hide(destination)
    done = MigrationReport()

    def progress(report: MigrationReport) -> None:
        nonlocal done
        done = report
        advance(report.copied + report.skipped + len(report.conflicts) + len(report.failed))

    state.resume_hint = (
        "each session is copied whole or not at all; run the same command again to "
        "resume (sessions already copied are skipped)"
    )
    with (
        SessionManager(source, **config) as src,
        SessionManager(destination, **config) as dst,
        state.progress(f"{redact(source)} -> {redact(destination)}") as advance,
    ):
        try:
            report = migrate(
                src, dst, agent=agent, user_id=owner(user, anonymous), progress=progress
            )
        except KeyboardInterrupt:
            state.resume_hint = f"{done.copied} copied so far; " + state.resume_hint
            raise
    _report(state, report, report.failed, "copied")
