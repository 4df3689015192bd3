"""A token-auth middleware of the kind JWT and API-key packages ship: it sets
``request.user`` itself (no ``request.auser``), from ``Authorization: Token <name>``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class TokenUser:
    pk: Any
    is_authenticated: bool = True


class TokenAuthMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        header = request.headers.get("Authorization", "")
        if header.startswith("Token "):
            request.user = TokenUser(header.removeprefix("Token "))  # type: ignore[assignment]
        return self.get_response(request)  # type: ignore[no-any-return]
