"""Pages read for their text skip images, media and fonts: nothing in text, markdown, html or links needs them.

On a docs page those are most of the requests and bytes; refusing them before they leave the browser makes
a text scrape faster than a plain browser tab. A screenshot, or `load_media=true`, loads everything.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import BrowserContext, Route
from playwright.async_api import Error as PlaywrightError

__all__ = ["SKIPPED_TYPES", "skip_media", "skips_media"]

SKIPPED_TYPES = frozenset({"image", "media", "font"})


def skips_media(params: dict[str, Any]) -> bool:
    """Whether a read-only unit with these params loads its pages without images, media and fonts."""
    formats = params.get("formats") or ["markdown"]
    return "screenshot" not in formats and not params.get("load_media")


async def _route(route: Route) -> None:
    try:
        if route.request.resource_type in SKIPPED_TYPES:
            await route.abort("blockedbyclient")
        else:
            await route.fallback()
    except PlaywrightError:
        pass  # the page or context went away while the request was paused


async def skip_media(context: BrowserContext) -> None:
    """Abort image, media and font requests in `context` from now on; other requests go on to the URL guard.

    Routes run newest first, so this one, added after the guard's, only ever removes requests from what the
    guard checks: an aborted request reaches no network, so the guard has nothing to say about it.
    """
    await context.route("**/*", _route)
