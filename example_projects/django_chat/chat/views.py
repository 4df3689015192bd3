"""The chat demo's views: plain sync Django views over ``request.agent_session``.

agentsession's middleware gives every request ``request.agent_session``: the
session named by the ``X-Session-ID`` header or the signed cookie, created on
the first write and owned by the user (here the demo login, see
:func:`demo_user`). Errors it raises (unknown session, bad checkpoint id,
store down) become JSON 404/422/503 responses in the middleware.

Django's CSRF protection is on: every POST and DELETE needs the token the page
view sets in the ``csrftoken`` cookie, echoed in ``X-CSRFToken`` (the page's
script does it); without it the answer is a JSON 403 (:func:`csrf_failure`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.views import View
from django.views.decorators.csrf import ensure_csrf_cookie

from agentsession.integrations.django import session_manager
from example_projects.shared import AGENT_NAME, STATIC_DIR, api
from example_projects.shared.agent import Agent, make_agent

if TYPE_CHECKING:
    from agentsession.integrations.django import LazySession  # what sync views get


class ChatRequest(HttpRequest):
    """A request as agentsession's middleware hands it to the views."""

    agent_session: LazySession


def demo_user(request: HttpRequest) -> str | None:
    """DEMO ONLY: whoever types a name is that user. ``AGENTSESSION["GET_USER_ID"]``
    points here; with django.contrib.auth, leave it out and ``request.user`` counts."""
    user = request.session.get("user")
    return str(user) if user else None


@cache
def agent() -> Agent:
    return make_agent()


def _body(request: HttpRequest) -> Any:
    return api.parse_json(request.content_type, request.body)


@ensure_csrf_cookie  # the page's script echoes the CSRF cookie in X-CSRFToken
def page(request: HttpRequest) -> FileResponse:
    return FileResponse((STATIC_DIR / "index.html").open("rb"), content_type="text/html")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """``CSRF_FAILURE_VIEW``: a JSON 403 like the API's other errors (Django's
    default is an HTML page a script cannot read)."""
    message = f"CSRF check failed: {reason} Echo the csrftoken cookie in an X-CSRFToken header."
    return JsonResponse({"error": "csrf_failed", "message": message}, status=403)


class ApiView(View):
    """JSON views: a malformed body is a 400."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        except api.BadRequest as exc:
            return JsonResponse({"error": "bad_request", "message": str(exc)}, status=400)


class Me(ApiView):
    def get(self, request: ChatRequest) -> JsonResponse:
        return JsonResponse({"user": demo_user(request), "agent": agent().label})


class Login(ApiView):
    def post(self, request: ChatRequest) -> JsonResponse:
        user = api.read_user(_body(request))
        request.session.cycle_key()
        request.session["user"] = user
        return JsonResponse({"user": user})


class Logout(ApiView):
    def post(self, request: ChatRequest) -> JsonResponse:
        request.session.flush()
        return JsonResponse({"user": None})


class Messages(ApiView):
    def get(self, request: ChatRequest) -> JsonResponse:
        listed = [api.message_json(m) for m in request.agent_session.messages()]
        return JsonResponse({"messages": listed})

    def post(self, request: ChatRequest) -> JsonResponse:
        content = api.read_content(_body(request))
        s = request.agent_session
        # One turn: the message and the reply are written together (creating the session).
        turn = s.run(api.sync_turn(agent().reply), content, on_conflict="append")
        if "title" not in s.metadata:
            s.update_metadata({"title": api.title_for(content)})
        return JsonResponse(api.turn_json(turn))


class Checkpoints(ApiView):
    def get(self, request: ChatRequest) -> JsonResponse:
        points = request.agent_session.checkpoints()
        return JsonResponse({"checkpoints": [api.checkpoint_json(p) for p in points]})

    def post(self, request: ChatRequest) -> JsonResponse:
        name = api.read_name(_body(request))
        s = request.agent_session
        point = s.checkpoint(name, {"message_count": len(s.messages())})
        return JsonResponse({"checkpoint": api.checkpoint_json(point)}, status=201)


class Restore(ApiView):
    def post(self, request: ChatRequest) -> JsonResponse:
        s = request.agent_session
        point = s.restore(api.read_id(_body(request), "checkpoint_id"))
        listed = [api.message_json(m) for m in s.messages()]
        return JsonResponse({"checkpoint": api.checkpoint_json(point), "messages": listed})


class Branches(ApiView):
    def get(self, request: ChatRequest) -> JsonResponse:
        return JsonResponse({"branches": api.branches_json(request.agent_session.branches())})


class Switch(ApiView):
    def post(self, request: ChatRequest) -> JsonResponse:
        s = request.agent_session
        s.switch(api.read_id(_body(request), "entry_id"))
        return JsonResponse({"messages": [api.message_json(m) for m in s.messages()]})


class Sessions(ApiView):
    def get(self, request: ChatRequest) -> JsonResponse:
        current = request.agent_session.get()
        user = demo_user(request)
        if user is None:  # anonymous: only the session this browser holds
            mine = [current.info] if current is not None else []
        else:
            mine = session_manager().list(AGENT_NAME, user_id=user)
        current_id = current.id if current is not None else None
        return JsonResponse({"sessions": [api.session_json(i, current_id) for i in mine]})

    def post(self, request: ChatRequest) -> JsonResponse:
        created = session_manager().create(AGENT_NAME, user_id=demo_user(request))
        return JsonResponse({"session": api.session_json(created.info, created.id)}, status=201)


class CurrentSession(ApiView):
    def delete(self, request: ChatRequest) -> JsonResponse:
        return JsonResponse({"deleted": request.agent_session.delete()})
