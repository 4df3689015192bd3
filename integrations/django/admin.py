"""A read-only admin for the ORM store: sessions, their branches, messages and tree.

A session's page links to its export: the session whole (entries and
checkpoints) as one line of the export file format (``agentsession.exports``,
what ``agentsession import`` reads).

Nothing can be added, changed or deleted here (history is append-only and
written through the session API). Session ids are bearer tokens, so they are
shown nowhere and never put in a URL: pages are addressed by the row's
surrogate key. A session's page lists its branches (one per leaf) and the
messages on its current path; each branch links to the entries list filtered
to that branch's path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentsession import SessionManager, SessionNotFound
from agentsession.exports import dump_line

from ._queries import MESSAGE, leaves_query, path_query
from .models import StoredCheckpoint, StoredEntry, StoredSession

__all__ = ["StoredEntryAdmin", "StoredSessionAdmin"]

if TYPE_CHECKING:  # Django's admin classes are generic only in django-stubs
    SessionAdminBase = admin.ModelAdmin[StoredSession]
    EntryAdminBase = admin.ModelAdmin[StoredEntry]
    CheckpointInlineBase = admin.TabularInline[StoredCheckpoint, StoredSession]
else:
    SessionAdminBase = EntryAdminBase = admin.ModelAdmin
    CheckpointInlineBase = admin.TabularInline

#: Messages shown on a session's page (the newest of its current path).
SHOWN_MESSAGES = 50
#: Entries drawn in a session's history tree (the newest, by creation).
SHOWN_TREE = 500
_PREVIEW = 120


class ReadOnlyMixin:
    """View permission only: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(text: str) -> SafeString:
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        shown = text
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", shown)


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "\u2026"


class CheckpointInline(ReadOnlyMixin, CheckpointInlineBase):
    model = StoredCheckpoint
    fields = ("name", "checkpoint_id", "entry_id", "created_at", "checksum")
    readonly_fields = fields
    ordering = ("created_at", "checkpoint_id")
    extra = 0
    can_delete = False


@admin.register(StoredSession)
class StoredSessionAdmin(ReadOnlyMixin, SessionAdminBase):
    list_display = ("pk", "agent", "user_id", "message_count", "updated_at", "expires_at", "live")
    list_display_links = ("pk", "agent")
    list_filter = ("agent", "created_at", "updated_at")
    search_fields = ("agent", "user_id")  # never the session id: a query string is a URL
    ordering = ("-updated_at",)
    date_hierarchy = "updated_at"
    fields = (
        "agent",
        "user_id",
        ("created_at", "updated_at"),
        ("expires_at", "max_messages"),
        ("message_count", "revision"),
        "head",
        "pretty_metadata",
        "branches",
        "conversation",
        "tree",
        "export",
    )
    readonly_fields = (
        "agent",
        "user_id",
        "created_at",
        "updated_at",
        "expires_at",
        "max_messages",
        "message_count",
        "revision",
        "head",
        "pretty_metadata",
        "branches",
        "conversation",
        "tree",
        "export",
    )
    actions = None
    inlines = (CheckpointInline,)

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "<int:pk>/export/",
            self.admin_site.admin_view(self.export_view),
            name="agentsession_storedsession_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The session whole, as one line of the export file (a download)."""
        row = self.get_object(request, str(pk))
        if row is None or not self.has_view_permission(request, row):
            raise Http404("no such session")
        from .store import DjangoStore  # the app registry is ready by now

        with SessionManager(DjangoStore(row._state.db or "default")) as manager:
            try:
                exported = manager.export_session(row.session_id)
            except SessionNotFound:  # expired since the page was shown
                raise Http404("no such session") from None
        response = HttpResponse(dump_line(exported) + "\n", content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="session-{pk}.jsonl"'
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="export")
    def export(self, obj: StoredSession) -> SafeString:
        url = reverse("admin:agentsession_storedsession_export", args=(obj.pk,))
        return format_html("<a href='{}'>{}</a>", url, "download (JSON lines)")

    @admin.display(boolean=True)
    def live(self, obj: StoredSession) -> bool:
        return obj.expires_at is None or obj.expires_at > timezone.now()

    @admin.display(description="metadata")
    def pretty_metadata(self, obj: StoredSession) -> SafeString:
        return _pretty(obj.metadata)

    @admin.display(description="branches")
    def branches(self, obj: StoredSession) -> SafeString:
        leaves = sorted(
            leaves_query(obj._state.db or "default", obj),
            key=lambda e: (e.created_at, e.entry_id),
            reverse=True,
        )
        if not leaves:
            return format_html("<em>{}</em>", "no entries yet")
        entries = reverse("admin:agentsession_storedentry_changelist")
        rows = format_html_join(
            "",
            "<tr><td><a href='{}?session__id__exact={}&amp;branch={}'>{}</a></td>"
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entries,
                    obj.pk,
                    leaf.entry_id,
                    leaf.entry_id,
                    leaf.message_index,
                    leaf.created_at,
                    "current" if leaf.entry_id == obj.head else "",
                )
                for leaf in leaves
            ),
        )
        return format_html(
            "<table><tr><th>leaf</th><th>messages</th><th>updated</th><th></th></tr>{}</table>",
            rows,
        )

    @admin.display(description="messages on the current path")
    def conversation(self, obj: StoredSession) -> SafeString:
        if obj.head is None:
            return format_html("<em>{}</em>", "empty")
        using = obj._state.db or "default"
        newest = list(path_query(using, obj, obj.head, limit=SHOWN_MESSAGES, kind=MESSAGE))
        items = []
        for entry in reversed(newest):
            data = json.loads(entry.data)
            role = data.get("role", "") if isinstance(data, dict) else ""
            content = data.get("content", entry.data) if isinstance(data, dict) else entry.data
            text = content if isinstance(content, str) else json.dumps(content)
            items.append((entry.message_index, role, text))
        more = obj.message_count - len(items)
        note = format_html("<p>{} earlier messages not shown</p>", more) if more > 0 else ""
        return format_html(
            "{}<table>{}</table>",
            note,
            format_html_join(
                "",
                "<tr><td>{}</td><th>{}</th><td style='white-space: pre-wrap'>{}</td></tr>",
                items,
            ),
        )

    @admin.display(description="history")
    def tree(self, obj: StoredSession) -> SafeString:
        """Every entry as a tree, oldest first: a fork indents what follows
        it, a filled dot marks the current path, a flag a checkpoint."""
        using = obj._state.db or "default"
        newest = list(
            StoredEntry.objects.using(using)
            .filter(session=obj)
            .order_by("-created_at", "-entry_id")
            .only("entry_id", "parent_id", "kind", "data", "created_at")[: SHOWN_TREE + 1]
        )
        if not newest:
            return format_html("<em>{}</em>", "no entries yet")
        shown = {e.entry_id: e for e in newest[:SHOWN_TREE]}
        points: dict[str | None, list[str]] = {}
        for point in StoredCheckpoint.objects.using(using).filter(session=obj):
            points.setdefault(point.entry_id, []).append(point.name or point.checkpoint_id)
        on_path: set[str] = set()
        at = obj.head
        while at is not None and at in shown:
            on_path.add(at)
            at = shown[at].parent_id
        children: dict[str | None, list[StoredEntry]] = {}
        for entry in sorted(shown.values(), key=lambda e: (e.created_at, e.entry_id)):
            parent = entry.parent_id if entry.parent_id in shown else None
            children.setdefault(parent, []).append(entry)
        rows = []
        stack = [(entry, 0) for entry in reversed(children.get(None, []))]
        while stack:
            entry, level = stack.pop()
            kids = children.get(entry.entry_id, [])
            rows.append(
                (
                    f"{1.5 * level:g}em",
                    "\u25cf" if entry.entry_id in on_path else "\u25cb",
                    entry.kind,
                    _preview(_text(entry.data)),
                    " ".join(f"\u2691 {name}" for name in points.get(entry.entry_id, [])),
                    " (head)" if entry.entry_id == obj.head else "",
                )
            )
            stack.extend((kid, level + (len(kids) > 1)) for kid in reversed(kids))
        older = len(newest) > SHOWN_TREE
        note = format_html("<p>{}</p>", f"the newest {SHOWN_TREE} entries") if older else ""
        return format_html(
            "{}<table class='agentsession-tree'>{}</table>",
            note,
            format_html_join(
                "",
                "<tr><td style='padding-left: {}'>{} <small>{}</small> {} <b>{}</b>{}</td></tr>",
                rows,
            ),
        )


def _text(stored: str) -> str:
    """What an entry says: a message's content, else its JSON."""
    try:
        data = json.loads(stored)
    except ValueError:
        return stored
    content = data.get("content") if isinstance(data, dict) else None
    return content if isinstance(content, str) else stored


class BranchFilter(admin.SimpleListFilter):
    """Entries on the path from the root to one leaf of the filtered session."""

    title = "branch"
    parameter_name = "branch"

    def _session(self, request: HttpRequest) -> StoredSession | None:
        pk = request.GET.get("session__id__exact")
        if pk is None or not pk.isdigit():
            return None
        return StoredSession.objects.filter(pk=int(pk)).first()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        session = self._session(request)
        if session is None:
            return []
        leaves = leaves_query(session._state.db or "default", session)
        return [
            (leaf.entry_id, f"{leaf.entry_id} ({leaf.message_index} messages)") for leaf in leaves
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[StoredEntry]
    ) -> QuerySet[StoredEntry]:
        leaf = self.value()
        session = self._session(request)
        if not leaf or session is None:
            return queryset
        path = path_query(session._state.db or "default", session, leaf)
        return queryset.filter(pk__in=path.values("pk"))


@admin.register(StoredEntry)
class StoredEntryAdmin(ReadOnlyMixin, EntryAdminBase):
    list_display = ("entry_id", "kind", "depth", "message_index", "created_at", "preview", "owner")
    list_filter = ("kind", BranchFilter)
    list_select_related = ("session",)
    ordering = ("session", "depth", "created_at")
    fields = (
        "owner",
        "entry_id",
        "parent_id",
        "kind",
        ("depth", "message_index"),
        "created_at",
        "digest",
        "checksum",
        "pretty_data",
    )
    readonly_fields = (
        "owner",
        "entry_id",
        "parent_id",
        "kind",
        "depth",
        "message_index",
        "created_at",
        "digest",
        "checksum",
        "pretty_data",
    )
    actions = None

    @admin.display(description="data")
    def preview(self, obj: StoredEntry) -> str:
        return _preview(obj.data)

    @admin.display(description="data")
    def pretty_data(self, obj: StoredEntry) -> SafeString:
        return _pretty(obj.data)

    @admin.display(description="session")
    def owner(self, obj: StoredEntry) -> SafeString:
        url = reverse("admin:agentsession_storedsession_change", args=(obj.session.pk,))
        return format_html("<a href='{}'>{}</a>", url, obj.session)
