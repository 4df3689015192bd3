"""How ADK's names map onto agentsession's (``docs/adk.md``, "Mapping")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from google.adk.sessions.state import State
from pydantic_core import to_jsonable_python

from agentsession import InvalidInput
from agentsession.store import validate_id

__all__ = ["agent_name", "ledger_key", "owner", "session_key", "split_delta"]

_HASHED: Final = "adk-h-"
_USER_ID_MAX: Final = 256
_TEMP: Final = State.TEMP_PREFIX


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def agent_name(app_name: str) -> str:
    """The agent name of an ADK app: the name itself when agentsession takes
    it, else ``adk-h-`` + 48 hex digits of SHA-256 of ``["app"]``."""
    try:
        validate_id(app_name, "agent name")
    except InvalidInput:
        return _HASHED + _digest(app_name)[:48]
    return _HASHED + _digest(app_name)[:48] if app_name.startswith(_HASHED) else app_name


def owner(user_id: str) -> str:
    """The agentsession owner of an ADK user id: itself when it is 1-256
    characters without NUL (and not ``adk-h-``...), else ``adk-h-`` + its hash."""
    if (
        isinstance(user_id, str)
        and 0 < len(user_id) <= _USER_ID_MAX
        and "\x00" not in user_id
        and not user_id.startswith(_HASHED)
    ):
        try:
            user_id.encode()
        except UnicodeEncodeError:
            pass
        else:
            return user_id
    return _HASHED + _digest(str(user_id))[:48]


def session_key(app_name: str, user_id: str, session_id: str) -> str:
    """The agentsession id of an ADK session: ``adk-`` + 60 hex digits of
    SHA-256 over the JSON array ``[app_name, user_id, session_id]``."""
    return "adk-" + _digest(app_name, user_id, session_id)[:60]


def ledger_key(app_name: str, user_id: str | None) -> str:
    if user_id is None:
        return "adk-app-" + _digest("app", app_name)[:56]
    return "adk-user-" + _digest("user", app_name, user_id)[:56]


def split_delta(delta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(app, user, session) parts of a state delta, prefixes removed, values
    as JSON data (as ADK's own services store them: a datetime becomes its
    ISO text); ``temp:`` keys are dropped (ADK never persists them)."""
    delta = to_jsonable_python({k: v for k, v in delta.items() if not k.startswith(_TEMP)})
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for key, value in delta.items():
        if key.startswith(State.APP_PREFIX):
            app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            user[key.removeprefix(State.USER_PREFIX)] = value
        else:
            own[key] = value
    return app, user, own
