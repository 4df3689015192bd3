"""Full-text search over messages: what a query means, what a message's text
is, how a hit is ranked and shown, and the scan a store without an engine runs.

A query is its words: runs of letters and digits, compared case- and
accent-insensitively. A message matches when it holds every word of the
query as a whole word. The searchable text of a message is every string under
a ``content``, ``text`` or ``parts`` key, at any depth (chat messages, content
parts, Pydantic AI's parts): never a role, an id or a tool's arguments.

The engines (SQLite's FTS5, PostgreSQL's ``tsvector``) tokenize with their own
rules, which agree with these on words of letters and digits. See
``docs/design.md``, "Search".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ._exceptions import InvalidInput
from ._models import UNCHECKED, SearchHit, SessionInfo, Unchecked

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_SEARCH_LIMIT",
    "SCAN_SESSIONS",
    "HitCollector",
    "SearchQuery",
    "check_limit",
    "fold",
    "in_scope",
    "message_text",
    "parse_query",
    "snippet",
]

MAX_QUERY_CHARS: Final = 1000
MAX_QUERY_WORDS: Final = 32
MAX_SEARCH_LIMIT: Final = 100
#: Sessions a bounded scan (Redis without a query engine, a compressed
#: store) reads at most: the newest the filters allow.
SCAN_SESSIONS: Final = 1000
#: Characters of message text around the first matching word, at most.
SNIPPET_CHARS: Final = 160

_WORD: Final = re.compile(r"[^\W_]+")
_TEXT_KEYS: Final = frozenset({"content", "text", "parts"})
_MAX_DEPTH: Final = 8


def fold(text: str) -> str:
    """``text`` without case or accents: what words are compared as."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: its text as given and its distinct folded words.

    Stores receive this; build it with :func:`parse_query`.
    """

    text: str
    words: tuple[str, ...]


def parse_query(query: object) -> SearchQuery:
    """The words of ``query``; ``InvalidInput`` if it is not a str of at most
    1,000 characters holding 1 to 32 distinct words."""
    if not isinstance(query, str):
        raise InvalidInput(f"a search query must be a str, not {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"a search query is at most {MAX_QUERY_CHARS} characters")
    words = tuple(dict.fromkeys(_WORD.findall(fold(query))))
    if not words:
        raise InvalidInput("a search query needs at least one word (letters or digits)")
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidInput(f"a search query has at most {MAX_QUERY_WORDS} distinct words")
    return SearchQuery(query, words)


def check_limit(limit: object) -> int:
    """``limit`` if it is an int from 1 to 100, else ``InvalidInput``."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}")
    return limit


def message_text(data: Mapping[str, Any]) -> str:
    """The searchable text of a message's data (empty if it has none)."""
    found: list[str] = []
    _collect(data, found, 0)
    return "\n".join(found)


def _collect(value: object, found: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _TEXT_KEYS:
                _strings(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found, depth + 1)


def _strings(value: object, found: list[str], depth: int) -> None:
    if isinstance(value, str):
        if value:
            found.append(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found, depth + 1)
    else:
        _collect(value, found, depth)


def snippet(text: str, words: Iterable[str]) -> str:
    """The part of ``text`` around its first word in ``words``, whitespace
    collapsed, with "…" where it was cut."""
    wanted = set(words)
    start = 0
    for match in _WORD.finditer(text):
        if fold(match.group()) in wanted:
            start = match.start()
            break
    lead = max(0, start - SNIPPET_CHARS // 4)
    if lead:  # begin on a word boundary
        space = text.rfind(" ", 0, lead + 1)
        lead = space + 1 if space > start - SNIPPET_CHARS // 2 else lead
    end = min(len(text), lead + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", lead, end)
        end = space if space > start else end
    body = " ".join(text[lead:end].split())
    return ("…" if lead else "") + body + ("…" if end < len(text) else "")


def score(text: str, words: tuple[str, ...]) -> float | None:
    """How well ``text`` answers ``words``: ``None`` unless it holds every
    word; else more occurrences in a shorter text score higher."""
    counts = dict.fromkeys(words, 0)
    total = 0
    for token in _WORD.findall(fold(text)):
        total += 1
        if token in counts:
            counts[token] += 1
    if not all(counts.values()):
        return None
    return sum(counts.values()) / math.sqrt(total)


def in_scope(info: SessionInfo, user_id: str | Unchecked | None, agent: str | None) -> bool:
    """Whether ``info`` passes a search's owner and agent filters."""
    if agent is not None and info.agent != agent:
        return False
    return user_id is UNCHECKED or info.user_id == user_id


class HitCollector:
    """The best ``limit`` hits of a search, one per (session, message text).

    A compaction copies the messages it keeps, and a conversation may repeat
    itself: each distinct message of a session is one hit, the newest copy.
    Hits come out best first, then newest first.
    """

    def __init__(self, query: SearchQuery, limit: int) -> None:
        self.query = query
        self.limit = limit
        self._best: dict[tuple[str, str], tuple[tuple[float, float], SearchHit]] = {}

    def offer(
        self,
        session_id: str,
        entry_id: str,
        digest: str,
        created_at: datetime,
        data: Mapping[str, Any],
    ) -> None:
        """Look at one message; kept if it matches."""
        text = message_text(data)
        rank = score(text, self.query.words) if text else None
        if rank is None:
            return
        role = data.get("role")
        self.add(
            session_id, digest, rank, created_at, entry_id, text,
            role if isinstance(role, str) else None,
        )  # fmt: skip

    def add(
        self,
        session_id: str,
        digest: str,
        rank: float,
        created_at: datetime,
        entry_id: str,
        text: str,
        role: str | None,
    ) -> None:
        """Keep a hit an engine found (``rank``: higher is better; ``text``:
        the message's searchable text, for the snippet)."""
        order = (rank, created_at.timestamp())
        key = (session_id, digest)
        held = self._best.get(key)
        if held is not None and held[0] >= order:
            return
        hit = SearchHit(
            session_id=session_id,
            entry_id=entry_id,
            snippet=snippet(text, self.query.words),
            rank=rank,
            created_at=created_at,
            role=role,
        )
        self._best[key] = (order, hit)

    def hits(self) -> list[SearchHit]:
        """The best ``limit`` hits, best first, then newest first."""
        ranked = sorted(
            self._best.values(),
            key=lambda held: (-held[0][0], -held[0][1], held[1].session_id, held[1].entry_id),
        )
        return [hit for _, hit in ranked[: self.limit]]
