"""The export file format: one session a line, as JSON.

What ``agentsession export`` writes and ``agentsession import`` reads, and
what the Django admin's export link downloads: each line an object
``{"format": 1, "session": {...}, "entries": [...], "checkpoints": [...]}``
with the records' fields by name and times as ISO 8601 text. Reading a line
builds the records back; whether they form a sound session is for
``import_session`` to check.
"""

from __future__ import annotations

from ._jsonl import FORMAT, dump_line, load_line, record

__all__ = ["FORMAT", "dump_line", "load_line", "record"]
