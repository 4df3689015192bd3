"""``ls``, ``show`` and ``stats``: read a store, write nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape as _escape
from rich.tree import Tree

from agentsession import Entry, InvalidInput, SessionInfo, SessionNotFound
from agentsession._canonical import canonical_json
from agentsession.config import parse_duration
from agentsession.exports import record

from ._app import IdCommand, State, common, owner, owner_option, pass_state, table, walk

__all__ = ["register"]

_CUT = 72


def register(cli: click.Group) -> None:
    for command in (ls, show, stats):
        cli.add_command(command)


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _since(text: str, now: datetime) -> datetime:
    try:
        return now - parse_duration(text)
    except InvalidInput:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: say 7d, 12h, or an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(info: SessionInfo) -> dict[str, Any]:
    return record(info)


@click.command("ls")
@click.option("--agent", help="only this agent's sessions")
@owner_option
@click.option("--since", metavar="WHEN", help="written since: 7d, 12h, or an ISO date")
@click.option("--limit", type=click.IntRange(0), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@common
@pass_state
def ls(
    state: State,
    agent: str | None,
    user: str | None,
    anonymous: bool,
    since: str | None,
    limit: int,
    offset: int,
) -> None:
    """List live sessions, newest first."""
    manager = state.manager()
    rows = manager.list(agent, user_id=owner(user, anonymous), limit=limit, offset=offset)
    if since is not None:  # newest first: the rows since then are a prefix
        start = _since(since, manager.now())
        rows = [r for r in rows if r.updated_at >= start]

    def human(out: Console) -> None:
        grid = table("id", "agent", "user", "messages", "updated", "expires")
        for r in rows:
            grid.add_row(
                r.id, r.agent, _escape(r.user_id or "-"), str(r.message_count), _when(r.updated_at),
                _when(r.expires_at),
            )  # fmt: skip
        out.print(grid)

    state.emit([_row(r) for r in rows], human)


def _text(entry: Entry) -> str:
    data = dict(entry.data)
    if entry.kind == "message" and isinstance(data.get("content"), str):
        text = f"{data.get('role', '?')}: {data['content']}"
    else:
        text = f"{entry.kind}: {json.dumps(data, ensure_ascii=False)}"
    text = " ".join(text.split())
    return text if len(text) <= _CUT else text[: _CUT - 3] + "..."


def _tree(entries: tuple[Entry, ...], head: str | None) -> Tree:
    """The history as a tree that nests only where it forks."""
    children: dict[str | None, list[Entry]] = defaultdict(list)
    for entry in entries:
        children[entry.parent_id].append(entry)
    root = Tree("history")

    def grow(node: Tree, entry: Entry) -> None:
        while True:
            mark = "  [bold]<- head[/bold]" if entry.id == head else ""
            item = node.add(f"[dim]{entry.id}[/dim] {_escape(_text(entry))}{mark}")
            kids = children.get(entry.id, [])
            if len(kids) != 1:
                for number, kid in enumerate(kids, 1):
                    grow(item.add(f"branch {number}"), kid)
                return
            entry = kids[0]

    for first in children.get(None, []):
        grow(root, first)
    return root


@click.command(cls=IdCommand)
@click.argument("session_id")
@common
@pass_state
def show(state: State, session_id: str) -> None:
    """One session: its conversation, branches, checkpoints, state, expiry."""
    manager = state.manager()
    session = manager.get(session_id)
    export = manager.export_session(session_id)
    info = export.session
    messages = session.messages()
    branches = session.branches()
    current_state = session.state()
    document = {
        "session": _row(info),
        "messages": [record(m) for m in messages],
        "entries": [record(e) for e in export.entries],
        "branches": [{**vars_of(b), "updated_at": b.updated_at.isoformat()} for b in branches],
        "checkpoints": [record(c) for c in export.checkpoints],
        "state": current_state,
    }

    def human(out: Console) -> None:
        owner = _escape(info.user_id or "-")
        out.print(f"[bold]session[/bold] {info.id}  agent {info.agent}  user {owner}")
        out.print(
            f"created {_when(info.created_at)}  updated {_when(info.updated_at)}  "
            f"revision {info.revision}  expires {_when(info.expires_at)}"
        )
        if info.metadata:
            out.print(f"metadata {_escape(json.dumps(dict(info.metadata), ensure_ascii=False))}")
        out.print(f"\n[bold]conversation[/bold] ({len(messages)} messages on the current path)")
        for message in messages:
            out.print("  " + _escape(_text(message)))
        out.print(f"\n[bold]branches[/bold] ({len(branches)})")
        out.print(_tree(export.entries, info.head))
        grid = table("checkpoint", "name", "entry", "created")
        for point in export.checkpoints:
            grid.add_row(
                point.id, _escape(point.name or "-"), point.entry_id or "-", _when(point.created_at)
            )
        out.print(f"\n[bold]checkpoints[/bold] ({len(export.checkpoints)})")
        if export.checkpoints:
            out.print(grid)
        out.print("\n[bold]state[/bold] " + _escape(json.dumps(current_state, ensure_ascii=False)))

    state.emit(document, human)


def vars_of(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in type(item).__dataclass_fields__}


@click.command()
@click.option("--agent", help="only this agent's sessions")
@common
@pass_state
def stats(state: State, agent: str | None) -> None:
    """Sessions, entries, checkpoints and bytes of entry data, by agent."""
    manager = state.manager()
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"sessions": 0, "entries": 0, "checkpoints": 0, "bytes": 0}
    )
    with state.progress("counting") as advance:
        for done, info in enumerate(walk(manager, agent=agent), 1):
            try:
                export = manager.export_session(info.id)
            except SessionNotFound:
                continue  # expired or deleted since it was listed
            counts = totals[info.agent]
            counts["sessions"] += 1
            counts["entries"] += len(export.entries)
            counts["checkpoints"] += len(export.checkpoints)
            counts["bytes"] += sum(
                len(canonical_json(dict(e.data)).encode("utf-8")) for e in export.entries
            )
            advance(done)
    everything = {
        key: sum(c[key] for c in totals.values())
        for key in ("sessions", "entries", "checkpoints", "bytes")
    }
    document = {"total": everything, "by_agent": dict(sorted(totals.items()))}

    def human(out: Console) -> None:
        grid = table("agent", "sessions", "entries", "checkpoints", "bytes")
        for name, counts in sorted(totals.items()):
            grid.add_row(name, *(str(v) for v in counts.values()))
        grid.add_row("[bold]total[/bold]", *(str(v) for v in everything.values()))
        out.print(grid)

    state.emit(document, human)
