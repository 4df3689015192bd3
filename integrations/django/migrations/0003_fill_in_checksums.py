"""Compute the path checksum of every entry written before 0002.

Session by session (a session's entries hold every parent they need), a
page of ``SESSIONS`` sessions in each transaction: the migration is not
atomic, so an interrupted run keeps the pages it did and ``migrate`` goes on
from there (only sessions with a row lacking a checksum are read).
Unapplying it does nothing: 0002's reverse drops the column.
"""

from __future__ import annotations

from typing import ClassVar

from django.apps.registry import Apps
from django.db import migrations, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from .._checksums import fill_in_checksums

#: Sessions looked up at a time.
SESSIONS = 100


def fill_in(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    using = schema_editor.connection.alias
    entries = apps.get_model("agentsession", "StoredEntry")._default_manager.using(using)
    after = 0
    while True:
        sessions = list(
            entries.filter(checksum__isnull=True, session_id__gt=after)
            .order_by("session_id")
            .values_list("session_id", flat=True)
            .distinct()[:SESSIONS]
        )
        with transaction.atomic(using=using):  # one commit a page: not one a session
            for session in sessions:
                fill_in_checksums(entries.filter(session_id=session))
        if len(sessions) < SESSIONS:
            return
        after = sessions[-1]


class Migration(migrations.Migration):
    atomic = False

    dependencies: ClassVar[list[tuple[str, str]]] = [("agentsession", "0002_storedentry_checksum")]

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.RunPython(fill_in, migrations.RunPython.noop),
    ]
