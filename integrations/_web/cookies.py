"""The signed session cookie: itsdangerous signing and the ``Set-Cookie`` value.

The cookie holds ``<session id>.<timestamp>.<signature>`` (an itsdangerous
``TimestampSigner`` value) signed with the newest key and this context's own
salt; every configured key is tried when verifying, so keys can be rotated.
A cookie that fails in any way (bad signature, another salt, a rotated-out
key, too old, dated in the future, not a valid id) is simply not a session:
the caller ignores it and clears it.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentsession import InvalidInput
from agentsession.extras import missing_extra
from agentsession.store import validate_id

from .settings import WebSettings

try:
    from itsdangerous import BadSignature, TimestampSigner
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession's web integrations (itsdangerous)", "starlette") from exc

__all__ = ["CookieInstruction", "CookieSigner", "read_cookie"]

# A signature with no max_age still must not be dated in the future; itsdangerous
# only checks that when given a max_age, so "unbounded" is a century.
_UNBOUNDED_AGE = 100 * 365 * 24 * 3600
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


class CookieSigner:
    """Signs session ids and verifies cookie values for one :class:`WebSettings`."""

    def __init__(self, settings: WebSettings) -> None:
        self._max_age = settings.max_age or _UNBOUNDED_AGE
        # itsdangerous signs with the *last* key of its list; ours is newest first.
        keys = [k.encode() if isinstance(k, str) else k for k in reversed(settings.secret_keys)]
        self._signer = TimestampSigner(keys, salt=settings.salt) if keys else None

    def sign(self, session_id: str) -> str:
        if self._signer is None:
            raise RuntimeError("cookies need a secret key")
        return self._signer.sign(session_id).decode("ascii")

    def unsign(self, value: str) -> str | None:
        """The session id in a cookie value, or ``None`` if it is not valid."""
        if self._signer is None:
            return None
        try:
            raw = self._signer.unsign(value, max_age=self._max_age)
            return validate_id(raw.decode("ascii"), "session id")
        except (BadSignature, InvalidInput, UnicodeError):
            return None


@dataclass(frozen=True, slots=True)
class CookieInstruction:
    """One cookie to set (``value``) or clear (``value is None``).

    Frameworks with their own ``set_cookie`` use the fields; the others send
    :meth:`header_value` as a ``Set-Cookie`` header.
    """

    name: str
    value: str | None
    max_age: int | None
    path: str
    domain: str | None
    secure: bool
    httponly: bool
    samesite: str

    @property
    def clears(self) -> bool:
        return self.value is None

    def header_value(self) -> str:
        """The ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value or ''}"]
        if self.value is None:
            parts += ["Max-Age=0", f"Expires={_EXPIRED}"]
        elif self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        parts.append(f"Path={self.path}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.secure:
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.samesite.capitalize()}")
        return "; ".join(parts)

    @classmethod
    def for_settings(cls, settings: WebSettings, value: str | None) -> CookieInstruction:
        return cls(
            name=settings.cookie_name,
            value=value,
            max_age=settings.max_age,
            path=settings.path,
            domain=settings.domain,
            secure=settings.secure,
            httponly=settings.httponly,
            samesite=settings.samesite,
        )


def read_cookie(cookie_header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a raw ``Cookie`` request header."""
    # Split by hand like browsers do: http.cookies gives up on the whole header
    # at the first cookie it dislikes. Our values never need quoting.
    for chunk in (cookie_header or "").split(";"):
        key, sep, value = chunk.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None
