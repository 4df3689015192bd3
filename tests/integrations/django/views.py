"""Views of the Django integration tests: each exists as a sync and an async view."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from agentsession import ConflictError, IntegrityError, NoSessionInContext, current_session


def _content(request: HttpRequest) -> str:
    return str(json.loads(request.body or b"{}").get("content", "hello"))


def _payload(handle: Any, messages: list[Any]) -> dict[str, Any]:
    return {
        "handle": type(handle).__name__,
        "messages": [m.data["content"] for m in messages],
        "current_is_handle": _current() is handle,
    }


def _current() -> object:
    try:
        return current_session()
    except NoSessionInContext:
        return None


@csrf_exempt
def chat(request: HttpRequest) -> HttpResponse:
    """POST appends ``{"content": ...}``; both return the last 20 messages."""
    session = request.agent_session  # type: ignore[attr-defined]
    if request.method == "POST":
        session.append({"role": "user", "content": _content(request)})
    return JsonResponse(_payload(session, session.messages(limit=20)))


@csrf_exempt
async def achat(request: HttpRequest) -> HttpResponse:
    session = request.agent_session  # type: ignore[attr-defined]
    if request.method == "POST":
        await session.append({"role": "user", "content": _content(request)})
    return JsonResponse(_payload(session, await session.messages(limit=20)))


@csrf_exempt
def delete(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"deleted": request.agent_session.delete()})  # type: ignore[attr-defined]


@csrf_exempt
async def adelete(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"deleted": await request.agent_session.delete()})  # type: ignore[attr-defined]


def _untouched(request: HttpRequest) -> dict[str, Any]:
    handle = getattr(request, "agent_session", None)
    return {
        "handle": None if handle is None else type(handle).__name__,
        "current_is_handle": handle is not None and _current() is handle,
    }


def plain(request: HttpRequest) -> HttpResponse:
    """Never touches the session."""
    return JsonResponse(_untouched(request))


async def aplain(request: HttpRequest) -> HttpResponse:
    return JsonResponse(_untouched(request))


def conflict(request: HttpRequest) -> HttpResponse:
    raise ConflictError("the session's head moved")


async def aconflict(request: HttpRequest) -> HttpResponse:
    raise ConflictError("the session's head moved")


@csrf_exempt
def bad(request: HttpRequest) -> HttpResponse:
    """Appends data that is not JSON (NaN): 422, nothing created."""
    request.agent_session.append({"value": float("nan")})  # type: ignore[attr-defined]
    return JsonResponse({})


@csrf_exempt
async def abad(request: HttpRequest) -> HttpResponse:
    await request.agent_session.append({"value": float("nan")})  # type: ignore[attr-defined]
    return JsonResponse({})


@csrf_exempt
def integrity(request: HttpRequest) -> HttpResponse:
    """Reads the session, then fails as a store does on a tampered history: 500."""
    request.agent_session.messages()  # type: ignore[attr-defined]
    raise IntegrityError("stored history failed its check")


@csrf_exempt
async def aintegrity(request: HttpRequest) -> HttpResponse:
    await request.agent_session.messages()  # type: ignore[attr-defined]
    raise IntegrityError("stored history failed its check")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """Reads the session through current_session() while the body streams."""

    def chunks() -> Iterator[bytes]:
        session: Any = current_session()
        for message in session.messages():
            yield json.dumps(message.data["content"]).encode() + b"\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        session: Any = current_session()
        for message in await session.messages():
            yield json.dumps(message.data["content"]).encode() + b"\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def header_user(request: HttpRequest) -> str | None:
    """A ``GET_USER_ID`` hook: the ``X-User`` header names the user (tests only)."""
    return request.headers.get("X-User")


async def aheader_user(request: HttpRequest) -> str | None:
    return request.headers.get("X-User")
