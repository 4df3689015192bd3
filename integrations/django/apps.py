"""The Django app of agentsession (``INSTALLED_APPS += ["agentsession.integrations.django"]``)."""

from __future__ import annotations

import atexit

from django.apps import AppConfig
from django.core.signals import setting_changed


class AgentSessionConfig(AppConfig):
    """Registers the system checks, the ``django://`` store URL, and closes the
    stores the integration opened when the process exits."""

    name = "agentsession.integrations.django"
    label = "agentsession"
    verbose_name = "Agent sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentsession import register_store

        from . import checks
        from .conf import agentsession_settings, reload_settings

        register_store(
            "django",
            "agentsession.integrations.django.store:DjangoStore",
            "agentsession.integrations.django.store:AsyncDjangoStore",
        )
        checks.register()
        setting_changed.connect(reload_settings, dispatch_uid="agentsession.reload_settings")
        atexit.register(agentsession_settings.close)
