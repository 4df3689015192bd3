"""Which session a request gets: the table in ``docs/design.md``, "Web layer", with no I/O.

:func:`begin` reads the header and the cookie once per request and returns a
:class:`RequestState` (or the 400 for a malformed header id). The lazy handles
consult the state on first use: :meth:`RequestState.judge` applies the owner
rules to the row the store returned, and :meth:`RequestState.response_headers`
says what the response must carry afterwards.

=======================================  ====================  ==========================
the request carries                      header                signed cookie
=======================================  ====================  ==========================
nothing                                  lazy handle           lazy handle
malformed id                             400, no store call    ignored, cleared
unknown / expired / deleted id           404                   ignored, cleared
foreign, or owned while anonymous        404 (same body)       ignored, cleared
bad / expired / rotated-out signature    --                    ignored, cleared
unowned session, caller logged in        404, or claimed and   same
                                         its id rotated if
                                         ``claim_anonymous``
=======================================  ====================  ==========================
"""

from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass, field

from agentsession import InvalidInput, SessionInfo, SessionNotFound
from agentsession.store import validate_id

from .cookies import CookieInstruction, CookieSigner
from .errors import ErrorResponse, error_response
from .settings import WebSettings

__all__ = [
    "RequestState",
    "Source",
    "Verdict",
    "begin",
    "caching_headers",
    "merge_cache_control",
    "merge_vary",
]


class Source(enum.Enum):
    """Where the request's session id came from."""

    NONE = "none"
    HEADER = "header"
    COOKIE = "cookie"


class Verdict(enum.Enum):
    """What to do with a stored session the request named."""

    ACCEPT = "accept"  # the caller's own session
    CLAIM = "claim"  # anonymous session, logged-in caller, claim_anonymous: rotate it
    REJECT = "reject"  # cookie named a session this caller may not have: start afresh


@dataclass(slots=True, eq=False)
class RequestState:
    """Per-request bookkeeping shared by the async and sync handles of a request.

    Attributes:
        settings / signer: the app's configuration.
        user_id: the caller (``None`` = anonymous).
        candidate: the id named by the request, not yet checked against the store.
        source: where ``candidate`` came from.
        info: the session row once checked or created (``None`` before).
        issued: a new or rotated id must go out (``X-Session-ID`` + cookie).
        clear_cookie: the request's cookie is to be removed.
        touched: the session was used (the response then varies by it).
    """

    settings: WebSettings
    signer: CookieSigner
    user_id: str | None
    candidate: str | None = None
    source: Source = Source.NONE
    info: SessionInfo | None = None
    issued: bool = False
    clear_cookie: bool = False
    touched: bool = False
    _checked: bool = field(default=False, repr=False)
    _refused: bool = field(default=False, repr=False)

    def __repr__(self) -> str:  # never show ids
        return f"<RequestState source={self.source.value} issued={self.issued}>"

    # -- the handles call these ------------------------------------------------

    def pending(self) -> str | None:
        """The id still to be checked against the store (marks the session used).

        Raises:
            SessionNotFound: the header's id was refused earlier in this request
                (every later use is refused too: no fresh session in its place).
        """
        self.touched = True
        if self._refused:
            raise SessionNotFound()
        if self._checked:
            return None
        return self.candidate

    def judge(self, info: SessionInfo | None) -> Verdict:
        """Apply the owner rules to the row the store returned for ``pending()``
        (``None`` when it was not found).

        Raises:
            SessionNotFound: a header named a session this caller cannot have (the
                same 404 as an unknown id).
        """
        self._checked = True
        if info is not None and info.agent == self.settings.agent:
            if info.user_id == self.user_id:
                self.info = info
                return Verdict.ACCEPT
            if info.user_id is None and self.settings.claim_anonymous:
                return Verdict.CLAIM
        self.candidate = None
        if self.source is Source.HEADER:
            self._refused = True
            raise SessionNotFound()
        self.clear_cookie = self.source is Source.COOKIE
        return Verdict.REJECT

    def issue(self, info: SessionInfo) -> None:
        """A session was created or its id rotated: announce the (new) id."""
        self._checked = True
        self.info = info
        self.issued = True
        self.clear_cookie = False

    def forget(self) -> None:
        """The session was deleted: the next write starts a new one.

        The cookie is cleared only when it named the deleted session (it came
        from the cookie, or was set for it in this request): deleting the
        session a header named leaves the cookie's own session alone.
        """
        named_by_cookie = self.source is Source.COOKIE or (
            self.source is Source.NONE and self.issued
        )
        self._checked = True
        self.info = None
        self.candidate = None
        self.issued = False
        self.clear_cookie = self.settings.cookies_enabled and (self.clear_cookie or named_by_cookie)

    # -- the framework calls these --------------------------------------------

    def cookie(self) -> CookieInstruction | None:
        """The cookie to set or clear, if any."""
        if not self.settings.cookies_enabled:
            return None
        if self.issued and self.info is not None:
            return CookieInstruction.for_settings(self.settings, self.signer.sign(self.info.id))
        if self.clear_cookie:
            return CookieInstruction.for_settings(self.settings, None)
        return None

    @property
    def varies(self) -> bool:
        """The response depends on the session (``Vary`` and ``Cache-Control``)."""
        return self.touched or self.issued or self.clear_cookie

    def response_headers(
        self, existing: list[tuple[str, str]] | None = None, *, caching: bool = True
    ) -> list[tuple[str, str]]:
        """``existing`` response headers plus this request's session headers.

        Adds ``X-Session-ID`` and ``Set-Cookie`` for a new or rotated id, the
        clearing ``Set-Cookie`` for a rejected cookie, and merges
        ``Vary: Cookie, X-Session-ID`` and ``Cache-Control: private`` when the
        session was used (unless ``caching=False``, e.g. a websocket accept).
        """
        headers = list(existing or ())
        if caching and self.varies:
            vary = ", ".join(v for k, v in headers if k.lower() == "vary")
            cache = ", ".join(v for k, v in headers if k.lower() == "cache-control")
            headers = [(k, v) for k, v in headers if k.lower() not in ("vary", "cache-control")]
            headers += caching_headers(vary, cache, self.settings.header)
        return headers + self.identity_headers()

    def identity_headers(self) -> list[tuple[str, str]]:
        """The headers :meth:`response_headers` adds whatever the response's
        own: ``X-Session-ID`` and ``Set-Cookie`` for a new or rotated id, the
        clearing ``Set-Cookie`` for a rejected cookie."""
        added: list[tuple[str, str]] = []
        if self.issued and self.info is not None:
            added.append((self.settings.header, self.info.id))
        instruction = self.cookie()
        if instruction is not None:
            added.append(("Set-Cookie", instruction.header_value()))
        return added


# Memoised: every response that used a session asks, with the same few
# arguments (the app's own header values, never the client's).
@functools.lru_cache(maxsize=256)
def caching_headers(vary: str, cache_control: str, header: str) -> tuple[tuple[str, str], ...]:
    """``Vary`` and ``Cache-Control`` of a response that used a session, given
    the response's own values (several joined with ``", "``) and the session
    header's name; they replace the response's own."""
    return (
        ("Vary", merge_vary(vary, header)),
        ("Cache-Control", merge_cache_control(cache_control)),
    )


def begin(
    settings: WebSettings,
    signer: CookieSigner,
    *,
    header: str | None,
    cookie: str | None,
    user_id: object,
) -> RequestState | ErrorResponse:
    """Read the request's session id without touching the store.

    Args:
        header: the raw value of the session header (``None`` if absent;
            several values should be joined with ``","``, which is malformed).
        cookie: the raw value of the session cookie (``None`` if absent). Its
            signature is checked even when the header wins, so that a bad
            cookie is cleared in every case; a valid one is then left alone.
        user_id: the caller, ``None`` if anonymous, as the app's hook gave it
            (see :func:`user_id_of`).

    Returns:
        the request's state, or the 400 response for a malformed header id.
    """
    state = RequestState(settings=settings, signer=signer, user_id=user_id_of(user_id))
    from_cookie: str | None = None
    if cookie is not None and settings.cookies_enabled:
        # Checked even when the header wins: a bad cookie is cleared either
        # way, and the signature alone says so (no store call).
        from_cookie = signer.unsign(cookie)
        state.clear_cookie = from_cookie is None
    if header is not None:
        try:
            state.candidate = validate_id(header.strip(), "session id")
        except InvalidInput as exc:
            return error_response(exc, bad_id=True)
        state.source = Source.HEADER
    elif from_cookie is not None:
        state.candidate = from_cookie
        state.source = Source.COOKIE
    return state


def merge_vary(existing: str, header: str) -> str:
    """``existing`` Vary plus ``Cookie`` and the session header, no duplicates."""
    names = [n.strip() for n in existing.split(",") if n.strip()]
    if "*" in names:
        return "*"
    seen = {n.lower() for n in names}
    names += [n for n in ("Cookie", header) if n.lower() not in seen]
    return ", ".join(names)


def merge_cache_control(existing: str) -> str:
    """``existing`` Cache-Control made private (``public`` dropped)."""
    directives = [d.strip() for d in existing.split(",") if d.strip()]
    lowered = {d.lower().split("=", 1)[0] for d in directives}
    if "private" in lowered or "no-store" in lowered:
        return ", ".join(directives)
    kept = [d for d in directives if d.lower() not in ("public",)]
    return ", ".join(["private", *kept])


def user_id_of(value: object) -> str | None:
    """The one rule for what an app's ``get_user_id`` may return, in every
    framework: a string, ``None`` (anonymous), or an ``int`` or ``UUID``
    primary key, which becomes its string form (``42`` and ``"42"`` are the
    same user).

    Raises:
        TypeError: anything else (a bool, a user object...): a mistake in the
            app's configuration, answered as a server error, never blamed on
            the client.
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | uuid.UUID) and not isinstance(value, bool):
        return str(value)
    raise TypeError(
        f"get_user_id must return a str, an int, a UUID or None, not {type(value).__name__}"
    )
