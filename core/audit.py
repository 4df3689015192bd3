"""Audit events (``SessionManager(..., audit=...)``): the public names.

:class:`AuditEvent` is what a sink receives; :func:`request_scope` adds a web
request's method, path and remote address to the events reported inside it
(the web integrations call it for every request when auditing is on). See
``docs/design.md``, "Audit".
"""

from __future__ import annotations

from ._audit import LOGGER, AuditEvent, AuditSink, request_scope

__all__ = ["LOGGER", "AuditEvent", "AuditSink", "request_scope"]
