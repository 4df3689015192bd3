"""The demo's JSON API, shared by the three apps: request parsing and response shapes.

Every app serves the same routes (all JSON; session ids never in a URL)::

    GET    /api/me                    {"user": "alice" | null, "agent": "..."}
    POST   /api/login   {"user"}      demo login: a name, no password
    POST   /api/logout
    GET    /api/messages              the current branch, oldest first
    POST   /api/messages {"content"}  append, let the agent answer: {"message", "reply"}
    GET    /api/checkpoints
    POST   /api/checkpoints {"name"?}
    POST   /api/checkpoints/restore {"checkpoint_id"}
    GET    /api/branches
    POST   /api/branches/switch {"entry_id"}
    GET    /api/sessions              the caller's sessions, newest first
    POST   /api/sessions              start a new, empty session: {"session"}
    DELETE /api/session               delete the session the request names

The session a request works on is the integration's: the ``X-Session-ID``
header, else the signed cookie, else a new one created on the first write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentsession import Branch, Checkpoint, Entry, Session, SessionInfo, Turn

__all__ = [
    "BadRequest",
    "branches_json",
    "checkpoint_json",
    "history",
    "message_json",
    "parse_json",
    "read_content",
    "read_id",
    "read_name",
    "read_user",
    "session_json",
    "title_for",
]

MAX_CONTENT = 4000
_USER = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class BadRequest(ValueError):
    """The request body is not what the route expects (the apps answer 400)."""


def parse_json(content_type: str | None, body: bytes) -> Any:
    """The request body; only ``application/json`` is accepted, so a cross-site
    HTML form (which cannot send that type) can never post to the API."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest("send the body as application/json")
    try:
        return json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object")
    return body.get(name)


def read_content(body: Any) -> str:
    """The ``content`` of a new message: non-empty text of at most 4000 characters."""
    content = _field(body, "content")
    if not isinstance(content, str) or not content.strip():
        raise BadRequest("'content' must be a non-empty string")
    if len(content) > MAX_CONTENT:
        raise BadRequest(f"'content' is longer than {MAX_CONTENT} characters")
    return content.strip()


def read_id(body: Any, name: str) -> str:
    """An id field (``checkpoint_id``, ``entry_id``); the library validates its form."""
    value = _field(body, name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' must be a string")
    return value


def read_user(body: Any) -> str:
    """The demo login's user name: 1-32 letters, digits, ``_``, ``.`` or ``-``."""
    user = _field(body, "user")
    if not isinstance(user, str) or not _USER.fullmatch(user.strip()):
        raise BadRequest("'user' must be 1-32 letters, digits, '_', '.' or '-'")
    return user.strip()


def read_name(body: Any) -> str | None:
    """An optional checkpoint name."""
    name = _field(body, "name") if body else None
    if name is None or name == "":
        return None
    if not isinstance(name, str) or len(name) > 100:
        raise BadRequest("'name' must be a string of at most 100 characters")
    return name


def title_for(content: str) -> str:
    """A session's title: the start of its first message."""
    line = " ".join(content.split())
    return line if len(line) <= 48 else line[:47] + "…"


def history(entries: Iterable[Entry]) -> list[dict[str, str]]:
    """Messages as the agent sees them: ``{"role", "content"}`` only."""
    return [{"role": str(e.data["role"]), "content": str(e.data["content"])} for e in entries]


def with_new(entries: Iterable[Entry], content: str) -> list[dict[str, str]]:
    """The history the agent answers from: the session's, then the new message
    (the turn records both together once the agent has answered)."""
    return [*history(entries), {"role": "user", "content": content}]


def sync_turn(reply: Callable[[list[dict[str, str]]], str]) -> Callable[[str, Session], str]:
    """The demo agent as a turn agent for a sync session's ``run``."""
    return lambda content, session: reply(with_new(session.messages(), content))


def turn_json(turn: Turn) -> dict[str, Any]:
    """What ``POST /api/messages`` answers: the user's message and the reply."""
    return {"message": message_json(turn.input[0]), "reply": message_json(turn.output[0])}


def message_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "role": entry.data.get("role"),
        "content": entry.data.get("content"),
        "created_at": entry.created_at.isoformat(),
    }


def checkpoint_json(point: Checkpoint) -> dict[str, Any]:
    count = point.metadata.get("message_count", 0)
    return {
        "id": point.id,
        "name": point.name or f"At message {count}",
        "entry_id": point.entry_id,
        "message_count": count,
        "created_at": point.created_at.isoformat(),
    }


def branches_json(branches: Iterable[Branch]) -> list[dict[str, Any]]:
    """Oldest branch first, so "Branch 1" keeps its number as new ones appear."""
    ordered = sorted(branches, key=lambda b: (b.updated_at, b.leaf_id))
    return [
        {
            "leaf_id": b.leaf_id,
            "message_count": b.message_count,
            "updated_at": b.updated_at.isoformat(),
            "is_current": b.is_current,
        }
        for b in ordered
    ]


def session_json(info: SessionInfo, current_id: str | None = None) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": str(info.metadata.get("title") or "New conversation"),
        "message_count": info.message_count,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "current": info.id == current_id,
    }
