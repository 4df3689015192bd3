"""Each entry's path checksum: a nullable column, filled in by 0003."""

from __future__ import annotations

from typing import ClassVar

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies: ClassVar[list[tuple[str, str]]] = [("agentsession", "0001_initial")]

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.AddField(
            model_name="storedentry",
            name="checksum",
            field=models.CharField(blank=True, max_length=43, null=True),
        ),
    ]
