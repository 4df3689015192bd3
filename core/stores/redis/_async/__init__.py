"""Async source of truth. ``scripts/unasync.py`` writes the ``_sync`` twin."""
