"""One way to call the test views through either Django test client.

``Web`` sends requests to the sync or the async variant of a view, through the
WSGI-style ``Client`` or the ASGI ``AsyncClient`` (driven with ``async_to_sync``
so one sync test covers all four combinations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

if TYPE_CHECKING:
    from django.http import HttpResponse
    from django.test import AsyncClient, Client

__all__ = ["COMBINATIONS", "Web", "body", "stored_ids"]

#: (server, view): how Django calls the view, and which kind of view it is.
COMBINATIONS = [("wsgi", "sync"), ("wsgi", "async"), ("asgi", "sync"), ("asgi", "async")]
COOKIE = "agentsession"
HEADER = "X-Session-ID"


@dataclass
class Web:
    server: str
    view: str
    client: Client
    async_client: AsyncClient

    @property
    def cookies(self) -> Any:
        return (self.client if self.server == "wsgi" else self.async_client).cookies

    def request(
        self,
        method: str,
        name: str,
        *,
        content: str | None = None,
        session_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        sent = dict(headers or {})
        if session_id is not None:
            sent[HEADER] = session_id
        kwargs: dict[str, Any] = {"headers": sent}
        if content is not None:
            kwargs["data"] = json.dumps({"content": content})
            kwargs["content_type"] = "application/json"
        path = f"/{self.view}/{name}"
        if self.server == "wsgi":
            response: HttpResponse = getattr(self.client, method)(path, **kwargs)
        else:
            response = async_to_sync(getattr(self.async_client, method))(path, **kwargs)
        return response

    def post(self, content: str = "hello", **kwargs: Any) -> HttpResponse:
        return self.request("post", "chat", content=content, **kwargs)

    def get(self, name: str = "chat", **kwargs: Any) -> HttpResponse:
        return self.request("get", name, **kwargs)

    def read_stream(self, response: Any) -> bytes:
        """The whole body of a streaming response, iterated as its server would."""
        if self.server == "wsgi":
            return b"".join(response.streaming_content)

        async def read() -> bytes:
            return b"".join([chunk async for chunk in response.streaming_content])

        return async_to_sync(read)()

    def cookie(self) -> str | None:
        morsel = self.cookies.get(COOKIE)
        return morsel.value if morsel is not None and morsel.value else None

    def set_cookie(self, value: str) -> None:
        self.cookies[COOKIE] = value

    def forget_cookies(self) -> None:
        self.cookies.clear()

    def login(self, user: Any) -> None:
        if self.server == "wsgi":
            self.client.force_login(user)
        else:
            async_to_sync(self.async_client.aforce_login)(user)

    def logout(self) -> None:
        if self.server == "wsgi":
            self.client.logout()
        else:
            async_to_sync(self.async_client.alogout)()


def stored_ids() -> set[str]:
    """Every session id in the ORM store."""
    from agentsession.integrations.django.models import StoredSession

    return set(StoredSession.objects.values_list("session_id", flat=True))


def body(response: HttpResponse) -> Any:
    return json.loads(response.content)
