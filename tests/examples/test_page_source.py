"""The chat page's script never puts a session id (or anything else) into a URL."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "example_projects" / "shared" / "static"


def test_every_api_call_uses_a_fixed_path() -> None:
    script = (STATIC / "chat.js").read_text()
    calls = re.findall(r"\bapi\(\s*\"(GET|POST|DELETE)\",\s*([^,)]+)", script)
    assert len(calls) >= 10
    for method, path in calls:
        assert re.fullmatch(r'"/api/[a-z/]+"', path.strip()), (method, path)
    assert "fetch(path" in script
    assert script.count("fetch(") == 1  # api() is the only way out
    assert "location" not in script  # no ids pushed into the address bar either


def test_the_page_marks_the_login_as_demo_only() -> None:
    page = (STATIC / "index.html").read_text()
    assert "Demo login" in page
    assert "no password" in page
    assert 'name="viewport"' in page


def test_the_page_carries_its_icon_and_a_full_width_branch_list() -> None:
    page = (STATIC / "index.html").read_text()
    # An inline icon: browsers ask no /favicon.ico (a 404 on every load before).
    assert re.search(r'<link rel="icon" href="data:', page)
    css = (STATIC / "chat.css").read_text()
    assert re.search(r"\.branch-row select \{[^}]*flex: 1 1 100%", css)
