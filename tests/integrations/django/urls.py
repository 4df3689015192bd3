"""URLs of the Django integration tests: ``/sync/<name>`` and ``/async/<name>``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sync/chat", views.chat),
    path("async/chat", views.achat),
    path("sync/delete", views.delete),
    path("async/delete", views.adelete),
    path("sync/plain", views.plain),
    path("async/plain", views.aplain),
    path("sync/conflict", views.conflict),
    path("async/conflict", views.aconflict),
    path("sync/bad", views.bad),
    path("async/bad", views.abad),
    path("sync/integrity", views.integrity),
    path("async/integrity", views.aintegrity),
    path("sync/stream", views.stream),
    path("async/stream", views.astream),
]
