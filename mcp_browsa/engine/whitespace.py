"""Whitespace of text read from pages and documents: what layout leaves behind, squeezed for a reader."""

from __future__ import annotations

import re

__all__ = ["squeeze"]


def squeeze(text: str) -> str:
    """Runs of spaces to one, runs of blank lines to one blank line."""
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r"\n\s*\n\s*\n+", "\n\n", text)
    return text.strip()
