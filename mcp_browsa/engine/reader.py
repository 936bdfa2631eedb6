"""A loaded page as markdown, made inside the page: its main content by default, or all of it.

Mozilla's Readability (the extractor behind Firefox's reader view) picks the main content and Turndown writes it as
markdown, both vendored under `vendor/` and run in the page, where the DOM is already parsed: a 280 KB page costs
the browser a few tens of milliseconds and this process nothing, where parsing its HTML again in Python took 0.4 s.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from playwright.async_api import Page

__all__ = ["MAX_ELEMENTS", "read_markdown", "script"]

# Past this many elements Readability gives up (scoring them would hold the tab for seconds) and the page is
# converted whole, without its navigation, headers, footers and sidebars.
MAX_ELEMENTS = 60_000


def _source(name: str) -> str:
    return resources.files("mcp_browsa.engine").joinpath(name).read_text(encoding="utf-8")


@cache
def script() -> str:
    """One function expression holding the extractor, the converter and reader.js, so nothing leaks to the page."""
    readability = _source("vendor/readability.js")
    # CommonJS export at the end: a page that defines a global `module` would get the extractor handed to it.
    readability = readability[: readability.rindex('if (typeof module === "object")')]
    turndown = _source("vendor/turndown.js").replace("export { TurndownService as default };", "")
    return "(opts) => {\n" + readability + "\n" + turndown + "\n" + _source("reader.js") + "\n}"


async def read_markdown(page: Page, *, cap: int, main: bool = True) -> dict[str, Any]:
    """`{"title", "markdown" (at most `cap` characters), "total" (its full length), "main" (extractor used)}`."""
    result: dict[str, Any] = await page.evaluate(script(), {"cap": cap, "main": main, "maxElements": MAX_ELEMENTS})
    return result
