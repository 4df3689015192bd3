"""A store that cannot be reached: a 503 whose log names host and port,
never the credentials of the URL."""

from __future__ import annotations

import logging

import pytest

from agentsession import SessionManager, StoreUnavailable
from agentsession.integrations._web import error_response

from .web_support import free_port


@pytest.mark.parametrize("scheme", ["redis", "postgresql"])
def test_the_log_names_the_server_not_the_password(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis" if scheme == "redis" else "psycopg")
    port = free_port()  # nothing listens there
    url = f"{scheme}://agent:s3cretpass@127.0.0.1:{port}/0"
    if scheme == "postgresql":
        url = f"{scheme}://agent:s3cretpass@127.0.0.1:{port}/db?connect_timeout=2"
    with SessionManager(url) as manager, pytest.raises(StoreUnavailable) as caught:
        manager.create("agent")
    assert caught.value.hint is not None and f"127.0.0.1:{port}" in caught.value.hint
    with caplog.at_level(logging.WARNING, logger="agentsession.integrations"):
        assert error_response(caught.value).status == 503
    logged = caplog.text
    assert f"127.0.0.1:{port}" in logged and "did not answer" in logged
    assert "s3cretpass" not in logged
