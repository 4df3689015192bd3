"""Error reports never show a session id: header or cookie."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter

from agentsession.integrations.django.checks import check_reporter_filter

SESSION_ID = "Zk3qS3ssionIdThatMustNotLeak0123"


def _report(settings: Any) -> str:
    request = RequestFactory().get(
        "/boom", headers={"X-Session-ID": SESSION_ID, "Cookie": f"agentsession={SESSION_ID}.sig"}
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_text() + reporter.get_traceback_html()


def test_our_filter_hides_the_header_and_the_cookie(settings: Any) -> None:
    report = _report(settings)
    assert "boom" in report
    assert SESSION_ID not in report


def _forget_filter() -> None:
    # Django caches the filter it builds from the setting (an lru_cache).
    cast(Any, get_default_exception_reporter_filter).cache_clear()


@pytest.fixture
def fresh_filter() -> Iterator[None]:
    _forget_filter()
    yield
    _forget_filter()


@pytest.mark.usefixtures("fresh_filter")
def test_djangos_own_filter_would_show_them_and_the_check_says_so(settings: Any) -> None:
    assert check_reporter_filter() == []
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    _forget_filter()
    assert SESSION_ID in _report(settings)
    assert [m.id for m in check_reporter_filter()] == ["agentsession.W008"]


@pytest.mark.parametrize("header", ["X-Agent-Session"])
def test_a_renamed_header_is_hidden_too(settings: Any, header: str) -> None:
    settings.AGENTSESSION = {**settings.AGENTSESSION, "HEADER": header}
    request = RequestFactory().get("/boom", headers={header: SESSION_ID})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert SESSION_ID not in report
