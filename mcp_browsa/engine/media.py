"""Pages read for their text skip images, media and fonts: nothing in text, markdown, html or links needs them.

On a docs page those are most of the requests and bytes; failing them before they leave the browser makes
a text scrape faster than a plain browser tab. A screenshot, or `load_media=true`, loads everything.
"""

from __future__ import annotations

from typing import Any

from mcp_browsa.browser.intercept import MEDIA_TYPES, skip_media

__all__ = ["MEDIA_TYPES", "skip_media", "skips_media"]


def skips_media(params: dict[str, Any]) -> bool:
    """Whether a read-only unit with these params loads its pages without images, media and fonts."""
    formats = params.get("formats") or ["markdown"]
    return "screenshot" not in formats and not params.get("load_media")
