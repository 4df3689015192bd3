"""``prune``, ``verify`` and ``doctor``: keep a store healthy."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import click
from rich.console import Console

from agentsession import AgentSessionError, SessionNotFound
from agentsession._exports import find_damage
from agentsession.retention import PRUNE_HELP, prune_count

from ._app import EXIT_PROBLEMS, State, common, pass_state, table, walk

__all__ = ["register"]

#: How far in the future a session's ``updated_at`` may be before the clock is suspect.
CLOCK_SLACK = timedelta(minutes=5)


def register(cli: click.Group) -> None:
    for command in (prune, verify, doctor):
        cli.add_command(command)


@click.command()
@click.option("--older-than", metavar="AGE", help=PRUNE_HELP["older_than"])
@click.option("--keep-newest", type=click.IntRange(1), metavar="N", help=PRUNE_HELP["keep_newest"])
@click.option("--per", type=click.Choice(["user", "agent", "user_agent"]), help=PRUNE_HELP["per"])
@click.option("--agent", help=PRUNE_HELP["agent"])
@click.option("--batch", type=click.IntRange(1), help=PRUNE_HELP["batch"])
@click.option("--dry-run", is_flag=True, help=PRUNE_HELP["dry_run"])
@common
@pass_state
def prune(state: State, /, **options: Any) -> None:
    """Erase expired sessions, and those the retention options name."""
    state.resume_hint = "each session is erased whole or kept; run the same command again"
    count = prune_count(state.manager(), **options)
    dry_run = bool(options["dry_run"])
    verb = "would prune" if dry_run else "pruned"
    state.emit(
        {"pruned": count, "dry_run": dry_run},
        lambda out: out.print(f"{verb} {count} session(s)"),
    )


@click.command()
@click.option("--agent", help="only this agent's sessions")
@common
@pass_state
def verify(state: State, agent: str | None) -> None:
    """Recompute every entry's digest and every checkpoint's checksum.

    Exits 1 and names each damaged session and record if any is found.
    """
    manager = state.manager()
    damaged: list[dict[str, str]] = []
    checked = 0
    state.resume_hint = "verify reads only; run it again"
    with state.progress("verifying") as advance:
        for info in walk(manager, agent=agent):
            try:
                export = manager.export_session(info.id)
            except SessionNotFound:
                continue  # expired or deleted since it was listed
            except Exception as exc:  # a record the store cannot even decode
                damaged.append(
                    {"session_id": info.id, "record": "session", "id": info.id,
                     "reason": f"cannot be read: {type(exc).__name__}"}
                )  # fmt: skip
            else:
                for record, record_id, why in find_damage(export):
                    damaged.append(
                        {"session_id": info.id, "record": record, "id": record_id, "reason": why}
                    )
            checked += 1
            advance(checked)
    sessions = sorted({d["session_id"] for d in damaged})

    def human(out: Console) -> None:
        out.print(f"checked {checked} session(s): {len(sessions)} damaged")
        if damaged:
            grid = table("session", "record", "id", "problem")
            for d in damaged:
                grid.add_row(d["session_id"], d["record"], d["id"], d["reason"])
            out.print(grid)

    state.emit(
        {"checked": checked, "damaged_sessions": sessions, "damage": damaged, "ok": not damaged},
        human,
    )
    if damaged:
        raise click.exceptions.Exit(EXIT_PROBLEMS)


@click.command()
@common
@pass_state
def doctor(state: State) -> None:
    """Check the config, the store (reachable, schema current) and the clock."""
    checks: list[dict[str, str]] = []

    def check(name: str, status: str, detail: str) -> None:
        checks.append({"check": name, "status": status, "detail": state.scrub(detail)})

    if state.opener is not None and not state.store_option:
        check("config", "ok", "the app's settings")
    else:
        try:
            config = state.config()
        except AgentSessionError as exc:
            check("config", "fail", str(exc))
        else:
            check("config", "ok", f"{config.path}" if config.path else "none found: defaults")
    if not any(c["status"] == "fail" for c in checks):
        _store_checks(state, check)

    def human(out: Console) -> None:
        grid = table("check", "status", "detail")
        colour = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
        for c in checks:
            grid.add_row(c["check"], f"[{colour[c['status']]}]{c['status']}[/]", c["detail"])
        out.print(grid)

    failed = any(c["status"] == "fail" for c in checks)
    state.emit({"checks": checks, "ok": not failed}, human)
    if failed:
        raise click.exceptions.Exit(EXIT_PROBLEMS)


def _store_checks(state: State, check: Any) -> None:
    where = state.describe()
    try:
        manager = state.manager()
        newest = manager.list(limit=1)
    except (AgentSessionError, ImportError) as exc:
        check("store", "fail", f"{where}: {type(exc).__name__}: {exc}")
        return
    check("store", "ok", f"{where} answers")
    version, latest = _schema(manager.store)
    if latest is None:
        check("schema", "skip", "this store keeps no schema version")
    elif version == latest:
        check("schema", "ok", f"version {version}, current")
    else:
        check("schema", "fail", f"version {version}; this release knows {latest}")
    now = manager.now()
    if newest and newest[0].updated_at > now + CLOCK_SLACK:
        check(
            "clock",
            "fail",
            f"a session was written at {newest[0].updated_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"after this machine's {now:%Y-%m-%d %H:%M:%S} UTC: is the clock behind?",
        )
    else:
        check("clock", "ok", f"{now:%Y-%m-%d %H:%M:%S} UTC; no session written in the future")


def _schema(store: Any) -> tuple[int | None, int | None]:
    """(the store's schema version, the newest this release knows); (None,
    None) for a store without one."""
    from agentsession.stores import SQLiteStore

    if isinstance(store, SQLiteStore) and store.path != ":memory:":
        from agentsession.stores.sqlite._schema import SCHEMA_VERSION, SCHEMA_VERSION_SQL

        with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as conn:
            found: int | None = conn.execute(SCHEMA_VERSION_SQL).fetchone()[0]
        return found, SCHEMA_VERSION
    if type(store).__name__ == "PostgresStore":  # no import: psycopg may be missing
        from agentsession.stores.postgres._migrations import latest_version
        from agentsession.stores.postgres._sql import quote_schema

        prefix = quote_schema(store.schema)
        with store.pool.connection() as conn:
            row = conn.execute(f"SELECT max(version) FROM {prefix}agentsession_migration")
            version = row.fetchone()
        return (None if version is None else version[0]), latest_version()
    return None, None
