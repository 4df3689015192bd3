"""The read-only admin and ``manage.py agentsession_prune`` on the ORM store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client

from agentsession import Session, SessionManager
from agentsession.integrations.django.models import StoredSession
from agentsession.integrations.django.store import DjangoStore
from agentsession.testing import FakeClock

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/agentsession/storedsession/"
ENTRIES = "/admin/agentsession/storedentry/"


@pytest.fixture
def manager() -> SessionManager:
    return SessionManager(DjangoStore())


@pytest.fixture
def branched(manager: SessionManager) -> Session:
    """Two branches: "hello", "first answer" and "hello", "second answer"."""
    session = manager.create("assistant", user_id="alice", metadata={"topic": "greetings"})
    session.append({"role": "user", "content": "hello"})
    point = session.checkpoint("after-hello")
    session.append({"role": "assistant", "content": "first answer"})
    session.restore(point.id)
    session.append({"role": "assistant", "content": "second <b>answer</b>"})
    return session


def pk_of(session: Session) -> int:
    return int(StoredSession.objects.get(session_id=session.id).pk)


def test_changelist_lists_sessions_without_their_ids(
    admin_client: Client, branched: Session
) -> None:
    response = admin_client.get(SESSIONS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "assistant" in page and "alice" in page
    assert branched.id not in page


def test_session_page_shows_branches_messages_and_checkpoints(
    admin_client: Client, branched: Session
) -> None:
    response = admin_client.get(f"{SESSIONS}{pk_of(branched)}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert branched.id not in page
    assert "hello" in page and "second &lt;b&gt;answer&lt;/b&gt;" in page  # escaped
    # Not on the current path: only in the history tree, further down.
    assert "first answer" not in page[: page.index("agentsession-tree")]
    assert "after-hello" in page and "greetings" in page
    assert page.count("branch=") == 2
    assert "current" in page
    assert 'name="_save"' not in page  # view only


def test_branch_filter_shows_one_path(admin_client: Client, branched: Session) -> None:
    leaves = [b.leaf_id for b in branched.branches()]
    pages = {
        leaf: admin_client.get(
            ENTRIES, {"session__id__exact": str(pk_of(branched)), "branch": leaf}
        )
        for leaf in leaves
    }
    texts = {leaf: page.content.decode() for leaf, page in pages.items()}
    current, other = (
        texts[b.leaf_id] for b in sorted(branched.branches(), key=lambda b: not b.is_current)
    )
    assert "second" in current and "first answer" not in current
    assert "first answer" in other and "second" not in other
    assert all("hello" in text for text in texts.values())


def test_entry_page_renders(admin_client: Client, branched: Session) -> None:
    entry = branched.messages()[0]
    listing = admin_client.get(ENTRIES).content.decode()
    match = re.search(rf'href="({ENTRIES}\d+/change/[^"]*)"', listing)
    assert match is not None
    response = admin_client.get(match.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    page = response.content.decode()
    assert entry.digest in page and "hello" in page
    assert entry.checksum is not None and entry.checksum in page


@pytest.mark.parametrize("path", ["add/", "{pk}/delete/"])
def test_nothing_can_be_added_or_deleted(
    admin_client: Client, branched: Session, path: str
) -> None:
    response = admin_client.get(SESSIONS + path.format(pk=pk_of(branched)))
    assert response.status_code == 403
    assert admin_client.get(ENTRIES + "add/").status_code == 403


def test_nothing_can_be_changed(admin_client: Client, branched: Session) -> None:
    url = f"{SESSIONS}{pk_of(branched)}/change/"
    before = StoredSession.objects.get(session_id=branched.id)
    response = admin_client.post(url, {"agent": "hijacked", "user_id": "mallory"})
    assert response.status_code == 403
    after = StoredSession.objects.get(session_id=branched.id)
    assert (after.agent, after.user_id, after.revision) == (
        before.agent,
        before.user_id,
        before.revision,
    )


def test_bulk_delete_is_not_offered(admin_client: Client, branched: Session) -> None:
    page = admin_client.get(SESSIONS).content.decode()
    assert "delete_selected" not in page


def test_staff_needs_the_view_permission(client: Client, branched: Session) -> None:
    staff = User.objects.create_user("staff", is_staff=True)
    client.force_login(staff)
    assert client.get(SESSIONS).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_storedsession"))
    assert client.get(SESSIONS).status_code == 200


# -- agentsession_prune ---------------------------------------------------------------------


def test_prune_command_erases_expired_sessions_only(manager: SessionManager) -> None:
    past = FakeClock(datetime.now(UTC) - timedelta(days=2))
    expired_manager = SessionManager(DjangoStore(), clock=past, ttl=timedelta(hours=1))
    doomed = [expired_manager.create("assistant") for _ in range(3)]
    doomed[0].append({"role": "user", "content": "soon gone"})
    doomed[0].checkpoint()
    kept = manager.create("assistant")
    out = StringIO()
    call_command("agentsession_prune", "--batch", "2", stdout=out)
    assert out.getvalue().strip() == "pruned 3 session(s)"
    assert set(StoredSession.objects.values_list("session_id", flat=True)) == {kept.id}
    out = StringIO()
    call_command("agentsession_prune", stdout=out)
    assert out.getvalue().strip() == "pruned 0 session(s)"


def test_prune_command_rejects_a_bad_batch() -> None:
    with pytest.raises(CommandError, match="positive"):
        call_command("agentsession_prune", "--batch", "0")


def test_prune_command_applies_the_retention_options(manager: SessionManager) -> None:
    past = FakeClock(datetime.now(UTC) - timedelta(days=100))
    old_manager = SessionManager(DjangoStore(), clock=past)
    old = [old_manager.create("assistant", user_id="ann") for _ in range(2)]
    recent = [manager.create("assistant", user_id="ann") for _ in range(3)]
    out = StringIO()
    call_command("agentsession_prune", "--older-than", "90d", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "would prune 2 session(s)"
    assert StoredSession.objects.count() == 5
    call_command("agentsession_prune", "--older-than", "90d", stdout=StringIO())
    assert StoredSession.objects.count() == 3
    out = StringIO()
    call_command("agentsession_prune", "--keep-newest", "1", "--per", "user", stdout=out)
    assert out.getvalue().strip() == "pruned 2 session(s)"
    assert set(StoredSession.objects.values_list("session_id", flat=True)) == {recent[-1].id}
    assert all(manager.find(s.id) is None for s in old)
    with pytest.raises(CommandError, match="duration"):
        call_command("agentsession_prune", "--older-than", "soon")


def test_session_page_draws_the_history_as_a_tree(admin_client: Client, branched: Session) -> None:
    page = admin_client.get(f"{SESSIONS}{pk_of(branched)}/change/").content.decode()
    tree = page[page.index("agentsession-tree") :]
    rows = re.findall(r"<tr><td style='padding-left: ([\d.]+)em'>(.*?)</td></tr>", tree)
    drawn = [(indent, re.sub(r"<[^>]+>", "", cell)) for indent, cell in rows]
    # "hello" at the root; the two answers fork from it, each indented.
    assert [indent for indent, _ in drawn] == ["0", "1.5", "1.5"]
    hello, first, second = (text for _, text in drawn)
    assert "hello" in hello and "\u2691 after-hello" in hello and "\u25cf" in hello
    assert "first answer" in first and "\u25cb" in first and "(head)" not in first
    assert "second &lt;b&gt;answer&lt;/b&gt;" in second and "(head)" in second
    assert "\u25cf" in second
    assert branched.id not in page


def test_session_page_offers_its_export(
    admin_client: Client, branched: Session, manager: SessionManager
) -> None:
    from agentsession.exports import load_line

    page = admin_client.get(f"{SESSIONS}{pk_of(branched)}/change/").content.decode()
    link = f"{SESSIONS}{pk_of(branched)}/export/"
    assert link in page and branched.id not in page
    response = admin_client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    assert load_line(response.content.decode()) == manager.export_session(branched.id)
    assert admin_client.get(f"{SESSIONS}999999/export/").status_code == 404


def test_export_needs_the_admin(client: Client, branched: Session) -> None:
    response = client.get(f"{SESSIONS}{pk_of(branched)}/export/")
    assert response.status_code == 302 and "/login/" in response["Location"]
