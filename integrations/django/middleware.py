"""``AgentSessionMiddleware``: the request's agent session on ``request.agent_session``.

Usage, options and behaviour: ``docs/web/django.md``, "Django middleware".
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.functional import SimpleLazyObject, empty

from agentsession import use_session
from agentsession.audit import request_scope

from .._web import (
    HANDLED,
    AsyncLazySession,
    ErrorResponse,
    LazySession,
    RequestState,
    begin,
    error_response,
    merge_cache_control,
    merge_vary,
)
from .conf import agentsession_settings

__all__ = ["AgentSessionMiddleware"]

_BOUND = "_agentsession_bound"
Handle = LazySession | AsyncLazySession
_SAMESITE: dict[str, Literal["Lax", "Strict", "None"]] = {
    "lax": "Lax",
    "strict": "Strict",
    "none": "None",
}


@dataclass(slots=True)
class _Bound:
    """What ``process_view`` leaves on the request for the way back."""

    state: RequestState
    handle: Handle
    context: AbstractContextManager[Any]


class AgentSessionMiddleware:
    """Gives every view its agent session (see the module docstring)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django awaits a coroutine process_view in the request's own task;
            # a sync one would run in a thread, and the contextvar set there
            # could not be reset here afterwards.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        with _audited(request):
            return _finish(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        with _audited(request):
            return _finish(request, await self.get_response(request))

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """Bind ``request.agent_session`` for the view about to run (Django's hook)."""
        web = agentsession_settings.web
        if not web.enabled:
            return None
        return _bind(request, view, _user_id(request, web.get_user_id), async_mode=False)

    async def _aprocess_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        web = agentsession_settings.web
        if not web.enabled:
            return None
        user_id = await _auser_id(request, web.get_user_id)
        return _bind(request, view, user_id, async_mode=True)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """The JSON error response for an agentsession error the view let out."""
        if getattr(request, _BOUND, None) is None or not isinstance(exception, HANDLED):
            return None
        return _json(error_response(exception))


def _audited(request: HttpRequest) -> AbstractContextManager[None]:
    """While the request is served, audit events carry its method, path and
    remote address (when ``AGENTSESSION["AUDIT"]`` is on)."""
    if not agentsession_settings.web.audit:
        return nullcontext()
    return request_scope(request.method or "", request.path, request.META.get("REMOTE_ADDR"))


def _user_id(request: HttpRequest, hook: Callable[[Any], Any] | None) -> object:
    """The caller: ``GET_USER_ID(request)``, else ``request.user``'s primary key."""
    if hook is None:
        return _pk(getattr(request, "user", None))
    if iscoroutinefunction(hook):
        return async_to_sync(hook)(request)
    return hook(request)


async def _auser_id(request: HttpRequest, hook: Callable[[Any], Any] | None) -> object:
    """The caller, from an async context.

    A ``request.user`` that an earlier middleware set itself (token or API-key
    auth) is the caller, as it is under WSGI; Django's own lazy user is
    resolved with ``await request.auser()``, which does not block the loop.
    """
    if hook is not None:
        if iscoroutinefunction(hook):
            return await hook(request)
        return await sync_to_async(hook)(request)
    user = request.__dict__.get("user")
    if user is not None and not _lazy_and_unresolved(user):
        return _pk(user)
    auser = getattr(request, "auser", None)
    if auser is not None:
        return _pk(await auser())
    if user is not None:  # a lazy user with no auser(): resolve it off the loop
        return await sync_to_async(_pk)(user)
    return None


def _lazy_and_unresolved(user: Any) -> bool:
    return isinstance(user, SimpleLazyObject) and user._wrapped is empty


def _pk(user: Any) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    return str(user.pk)


def _bind(
    request: HttpRequest, view: Callable[..., Any], user_id: object, *, async_mode: bool
) -> HttpResponse | None:
    conf = agentsession_settings
    web = conf.web
    result = begin(
        web,
        conf.signer,
        header=request.headers.get(web.header),
        cookie=request.COOKIES.get(web.cookie_name),
        user_id=user_id,
    )
    if isinstance(result, ErrorResponse):
        return _json(result)
    handle: Handle
    if not iscoroutinefunction(view):
        handle = LazySession(conf.sync_manager(), result)
    elif async_mode:
        handle = AsyncLazySession(conf.async_manager(), result)
    else:
        handle = AsyncLazySession(conf.offloaded_manager(), result)
    context = use_session(handle)  # a handle stands in for a session
    context.__enter__()
    request.agent_session = handle  # type: ignore[attr-defined]
    setattr(request, _BOUND, _Bound(result, handle, context))
    return None


def _finish(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Leave the view's context and add what the request state asks for."""
    bound: _Bound | None = getattr(request, _BOUND, None)
    if bound is None:
        return response
    setattr(request, _BOUND, None)
    bound.context.__exit__(None, None, None)
    if isinstance(response, StreamingHttpResponse):
        # The body may read the session after the headers are gone: vary anyway.
        bound.state.touched = True
        content = response.streaming_content
        if response.is_async:
            response.streaming_content = _astream(bound.handle, content)  # type: ignore[arg-type]
        else:
            response.streaming_content = _stream(bound.handle, content)  # type: ignore[arg-type]
    _add_headers(response, bound.state)
    return response


def _add_headers(response: HttpResponseBase, state: RequestState) -> None:
    web = state.settings
    if state.varies:
        response["Vary"] = merge_vary(response.get("Vary", ""), web.header)
        response["Cache-Control"] = merge_cache_control(response.get("Cache-Control", ""))
    if state.issued and state.info is not None:
        response[web.header] = state.info.id
    cookie = state.cookie()
    if cookie is not None:
        response.set_cookie(
            cookie.name,
            cookie.value or "",
            max_age=0 if cookie.clears else cookie.max_age,
            path=cookie.path,
            domain=cookie.domain,
            secure=cookie.secure,
            httponly=cookie.httponly,
            samesite=_SAMESITE[cookie.samesite],
        )


def _json(error: ErrorResponse) -> HttpResponse:
    return HttpResponse(error.body, status=error.status, content_type="application/json")


def _stream(handle: Handle, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Iterate ``chunks`` with ``handle`` as the current session.

    Each step runs in a context of its own, so the session never leaks into
    the server's thread between chunks, whoever iterates and however it ends.
    """
    context = contextvars.copy_context()
    scope = use_session(handle)
    context.run(scope.__enter__)
    iterator = iter(chunks)
    try:
        while True:
            try:
                yield context.run(next, iterator)
            except StopIteration:
                return
    finally:
        context.run(scope.__exit__, None, None, None)


async def _astream(handle: Handle, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Iterate ``chunks`` with ``handle`` as the current session (Django's ASGI
    handler iterates in the request's own task)."""
    with use_session(handle):
        async for chunk in chunks:
            yield chunk
