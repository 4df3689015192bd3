"""The ORM store's tables: sessions, entries, checkpoints."""

from __future__ import annotations

from typing import ClassVar

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: ClassVar[list[tuple[str, str]]] = []

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.CreateModel(
            name="StoredSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("session_id", models.CharField(max_length=128, unique=True)),
                ("agent", models.CharField(max_length=128)),
                ("user_id", models.CharField(blank=True, max_length=256, null=True)),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
                ("metadata", models.TextField(default="{}")),
                ("head", models.CharField(blank=True, max_length=128, null=True)),
                ("message_count", models.PositiveIntegerField(default=0)),
                ("revision", models.PositiveBigIntegerField(default=0)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("deadline", models.DateTimeField(blank=True, null=True)),
                ("idle_timeout", models.FloatField(blank=True, null=True)),
                ("max_messages", models.PositiveIntegerField(blank=True, null=True)),
                ("last_checkpoint_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "agent session",
                "db_table": "agentsession_session",
                "indexes": [
                    models.Index(
                        fields=["user_id", "agent", "updated_at"], name="agentsession_owner_idx"
                    ),
                    models.Index(fields=["updated_at"], name="agentsession_updated_idx"),
                    models.Index(fields=["expires_at"], name="agentsession_expires_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="StoredEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("entry_id", models.CharField(max_length=128)),
                ("parent_id", models.CharField(blank=True, max_length=128, null=True)),
                ("kind", models.CharField(max_length=128)),
                ("created_at", models.DateTimeField()),
                ("data", models.TextField()),
                ("depth", models.PositiveIntegerField()),
                ("message_index", models.PositiveIntegerField()),
                ("digest", models.CharField(max_length=64)),
                (
                    "session",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entries",
                        to="agentsession.storedsession",
                    ),
                ),
            ],
            options={
                "verbose_name": "entry",
                "verbose_name_plural": "entries",
                "db_table": "agentsession_entry",
                "indexes": [
                    models.Index(
                        fields=["session", "parent_id"], name="agentsession_entry_parent_idx"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("session", "entry_id"), name="agentsession_entry_uniq"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="StoredCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("checkpoint_id", models.CharField(max_length=128)),
                ("entry_id", models.CharField(blank=True, max_length=128, null=True)),
                ("created_at", models.DateTimeField()),
                ("name", models.CharField(blank=True, max_length=256, null=True)),
                ("metadata", models.TextField(default="{}")),
                ("checksum", models.CharField(max_length=64)),
                (
                    "session",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="checkpoints",
                        to="agentsession.storedsession",
                    ),
                ),
            ],
            options={
                "verbose_name": "checkpoint",
                "db_table": "agentsession_checkpoint",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("session", "checkpoint_id"), name="agentsession_checkpoint_uniq"
                    )
                ],
            },
        ),
    ]
