"""``rekey``: seal every session again under the newest key of the ring."""

from __future__ import annotations

import click
from rich.console import Console

from agentsession.sealed import RekeyReport, SealedStore
from agentsession.sealed import rekey as rekey_sessions

from ._app import EXIT_PROBLEMS, State, common, pass_state, table

__all__ = ["register"]


def register(cli: click.Group) -> None:
    cli.add_command(rekey)


@click.command()
@click.option("--page", type=click.IntRange(1), default=100, help="sessions listed per call")
@common
@pass_state
def rekey(state: State, page: int) -> None:
    """Seal every session again under the newest key of the configured ring.

    The ring comes from the configuration's ``[encryption] keys_env``
    variable, newest key first. Works on a live store; exits 1 and names the
    sessions that did not open (they are left as they were).
    """
    store = state.manager().store
    if not isinstance(store, SealedStore) or store.keys is None:
        raise click.UsageError(
            "rekey needs encryption in the configuration file ([encryption] keys_env)"
        )
    state.resume_hint = (
        "each session is rewritten whole or not at all; run the same command again:"
        " sessions already under the newest key are only read"
    )
    with state.progress("rekeying") as advance:

        def progress(report: RekeyReport) -> None:
            advance(report.resealed + report.current + len(report.failed))

        report = rekey_sessions(store, page=page, progress=progress)

    def human(out: Console) -> None:
        out.print(
            f"resealed {report.resealed} session(s), {report.current} already under"
            f" {store.keys.primary if store.keys else '-'}; {len(report.failed)} failed"
        )
        if report.failed:
            grid = table("session", "problem")
            for session_id, why in report.failed.items():
                grid.add_row(session_id, why)
            out.print(grid)

    state.emit(
        {
            "resealed": report.resealed,
            "current": report.current,
            "failed": report.failed,
            "passes": report.passes,
            "ok": report.ok,
        },
        human,
    )
    if report.failed:
        raise click.exceptions.Exit(EXIT_PROBLEMS)
