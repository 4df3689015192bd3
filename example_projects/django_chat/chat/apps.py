from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "example_projects.django_chat.chat"
    label = "chat"
    verbose_name = "Chat demo"
