from __future__ import annotations

from django.urls import path
from django.views.static import serve

from example_projects.shared import STATIC_DIR

from . import views

urlpatterns = [
    path("", views.page),
    path("static/<path:path>", serve, {"document_root": STATIC_DIR}),
    path("api/me", views.Me.as_view()),
    path("api/login", views.Login.as_view()),
    path("api/logout", views.Logout.as_view()),
    path("api/messages", views.Messages.as_view()),
    path("api/checkpoints", views.Checkpoints.as_view()),
    path("api/checkpoints/restore", views.Restore.as_view()),
    path("api/branches", views.Branches.as_view()),
    path("api/branches/switch", views.Switch.as_view()),
    path("api/sessions", views.Sessions.as_view()),
    path("api/session", views.CurrentSession.as_view()),
]
