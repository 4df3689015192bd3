"""An error-report filter that hides agentsession's session ids.

Django's ``SafeExceptionReporterFilter`` hides ``SESSION_COOKIE_NAME`` and
settings that look secret, but not the ``X-Session-ID`` header nor the
``agentsession`` cookie (whose signed value starts with the id in clear), so a
500 mailed to the admins or shown with ``DEBUG`` would carry a bearer token.
Set ``DEFAULT_EXCEPTION_REPORTER_FILTER =
"agentsession.integrations.django.debug.SafeExceptionReporterFilter"``;
check ``agentsession.W008`` warns while the project's filter would show them.
"""

from __future__ import annotations

from typing import Any

from django.views import debug

from .conf import agentsession_settings

__all__ = ["SafeExceptionReporterFilter", "secret_request_keys"]


def secret_request_keys() -> frozenset[str]:
    """The cookie name and the ``META`` key of the header that carry an id."""
    web = agentsession_settings.web
    return frozenset({web.cookie_name, "HTTP_" + web.header.upper().replace("-", "_")})


class SafeExceptionReporterFilter(debug.SafeExceptionReporterFilter):
    """Django's filter, also hiding the session header and cookie."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Used for request.META and request.COOKIES alike.
        if isinstance(key, str) and key in secret_request_keys():
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)
