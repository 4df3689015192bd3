"""Tables of the ORM store (``AGENTSESSION = {"STORE": "django"}``).

Three tables in the project's database: one row per session, one per entry,
one per checkpoint. Entry data and metadata are stored as the canonical JSON
text the library computed (a ``TextField``, not a ``JSONField``: PostgreSQL's
``jsonb`` would reorder keys, and every store must hold exactly the same
bytes). Session ids live in a unique column beside a surrogate key, so
rotating an id is one ``UPDATE`` and entries never move.

These models are the storage of :class:`~agentsession.integrations.django.store.DjangoStore`;
use the session API, not the models, to write.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models

__all__ = ["StoredCheckpoint", "StoredEntry", "StoredSession"]


class StoredSession(models.Model):
    """One conversation: the row the store protocol calls ``SessionInfo``."""

    session_id: models.CharField[str, str] = models.CharField(max_length=128, unique=True)
    agent: models.CharField[str, str] = models.CharField(max_length=128)
    user_id: models.CharField[str | None, str | None] = models.CharField(
        max_length=256, null=True, blank=True
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    metadata: models.TextField[str, str] = models.TextField(default="{}")
    head: models.CharField[str | None, str | None] = models.CharField(
        max_length=128, null=True, blank=True
    )
    message_count: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    revision: models.PositiveBigIntegerField[int, int] = models.PositiveBigIntegerField(default=0)
    expires_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    deadline: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    idle_timeout: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True
    )
    max_messages: models.PositiveIntegerField[int | None, int | None] = models.PositiveIntegerField(
        null=True, blank=True
    )
    last_checkpoint_at: models.DateTimeField[datetime | None, datetime | None] = (
        models.DateTimeField(null=True, blank=True)
    )

    class Meta:
        db_table = "agentsession_session"
        verbose_name = "agent session"
        indexes = (
            models.Index(fields=("user_id", "agent", "updated_at"), name="agentsession_owner_idx"),
            models.Index(fields=("updated_at",), name="agentsession_updated_idx"),
            models.Index(fields=("expires_at",), name="agentsession_expires_idx"),
        )

    def __str__(self) -> str:
        # The session id is a bearer token in web apps: never show it in a repr.
        return f"{self.agent} session #{self.pk} ({self.message_count} messages)"


class StoredEntry(models.Model):
    """One node of a session's history tree (append-only)."""

    session: models.ForeignKey[StoredSession, StoredSession] = models.ForeignKey(
        StoredSession, on_delete=models.CASCADE, related_name="entries"
    )
    entry_id: models.CharField[str, str] = models.CharField(max_length=128)
    parent_id: models.CharField[str | None, str | None] = models.CharField(
        max_length=128, null=True, blank=True
    )
    kind: models.CharField[str, str] = models.CharField(max_length=128)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    data: models.TextField[str, str] = models.TextField()
    depth: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    message_index: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    digest: models.CharField[str, str] = models.CharField(max_length=64)
    #: The chained checksum of the path root -> this entry (``Entry.checksum``,
    #: what a checkpoint of it records); ``NULL`` only on a row an earlier
    #: release wrote after migration 0003 filled the others in.
    checksum: models.CharField[str | None, str | None] = models.CharField(
        max_length=43, null=True, blank=True
    )

    class Meta:
        db_table = "agentsession_entry"
        verbose_name = "entry"
        verbose_name_plural = "entries"
        constraints = (
            models.UniqueConstraint(fields=("session", "entry_id"), name="agentsession_entry_uniq"),
        )
        indexes = (
            models.Index(fields=("session", "parent_id"), name="agentsession_entry_parent_idx"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.entry_id}"


class StoredCheckpoint(models.Model):
    """A named record of a head, with the checksum of its path."""

    session: models.ForeignKey[StoredSession, StoredSession] = models.ForeignKey(
        StoredSession, on_delete=models.CASCADE, related_name="checkpoints"
    )
    checkpoint_id: models.CharField[str, str] = models.CharField(max_length=128)
    entry_id: models.CharField[str | None, str | None] = models.CharField(
        max_length=128, null=True, blank=True
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    name: models.CharField[str | None, str | None] = models.CharField(
        max_length=256, null=True, blank=True
    )
    metadata: models.TextField[str, str] = models.TextField(default="{}")
    checksum: models.CharField[str, str] = models.CharField(max_length=64)

    class Meta:
        db_table = "agentsession_checkpoint"
        verbose_name = "checkpoint"
        constraints = (
            models.UniqueConstraint(
                fields=("session", "checkpoint_id"), name="agentsession_checkpoint_uniq"
            ),
        )

    def __str__(self) -> str:
        return f"checkpoint {self.name or self.checkpoint_id}"
