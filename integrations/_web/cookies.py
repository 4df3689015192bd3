"""The signed session cookie: itsdangerous signing and the ``Set-Cookie`` value.

The cookie holds ``<session id>.<timestamp>.<signature>`` (an itsdangerous
``TimestampSigner`` value) signed with the newest key and this context's own
salt; every configured key is tried when verifying, so keys can be rotated.
A cookie that fails in any way (bad signature, another salt, a rotated-out
key, too old, dated in the future, not a valid id) is simply not a session:
the caller ignores it and clears it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from agentsession import InvalidInput
from agentsession.extras import missing_extra
from agentsession.store import validate_id

from .settings import WebSettings

try:
    from itsdangerous import BadSignature, TimestampSigner
    from itsdangerous.encoding import want_bytes
    from itsdangerous.signer import HMACAlgorithm
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_extra("agentsession's web integrations (itsdangerous)", "starlette") from exc

__all__ = ["CookieInstruction", "CookieSigner", "read_cookie"]

# A signature with no max_age still must not be dated in the future; itsdangerous
# only checks that when given a max_age, so "unbounded" is a century.
_UNBOUNDED_AGE = 100 * 365 * 24 * 3600
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


class _HMACSHA1(HMACAlgorithm):
    """itsdangerous' default algorithm, HMAC-SHA1, in OpenSSL's one-shot HMAC:
    its own ``hmac.new`` with a Python ``digestmod`` takes the pure-Python
    path. The same bytes; verified with ``hmac.compare_digest`` as before."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha1)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _TimestampSigner(TimestampSigner):
    """``TimestampSigner`` with each key's derived key computed once, not on
    every sign and verify; values and checks are itsdangerous' own."""

    def __init__(self, keys: list[bytes], salt: str) -> None:
        super().__init__(keys, salt=salt, algorithm=_HMACSHA1())
        derive = super().derive_key
        self._derived = {key: derive(key) for key in self.secret_keys}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(key)
        return derived if derived is not None else super().derive_key(key)


class CookieSigner:
    """Signs session ids and verifies cookie values for one :class:`WebSettings`."""

    def __init__(self, settings: WebSettings) -> None:
        self._max_age = settings.max_age or _UNBOUNDED_AGE
        # itsdangerous signs with the *last* key of its list; ours is newest first.
        keys = [k.encode() if isinstance(k, str) else k for k in reversed(settings.secret_keys)]
        self._signer = _TimestampSigner(keys, salt=settings.salt) if keys else None

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
