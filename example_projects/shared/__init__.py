"""What the three chat apps share: the demo agent, the JSON shapes, the page."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
AGENT_NAME = "chat-demo"

__all__ = ["AGENT_NAME", "DATA_DIR", "STATIC_DIR"]
