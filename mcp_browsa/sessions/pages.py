"""What extract and screenshot give on a session: the active tab as it is now, read or captured, secrets masked.

Neither acts on the page; both count as a call (the idle timeout starts again) and wait for any step in progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_browsa.engine.agent.steps import ScreenshotPlan, StepRecorder
from mcp_browsa.engine.extraction import extract_result
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.engine.scrape import PageFailure, page_content
from mcp_browsa.errors import BadRequest, UpstreamUnavailable
from mcp_browsa.models import PriceTable
from mcp_browsa.sessions.live import LiveSession

__all__ = ["extract_page", "read_page", "screenshot_page"]


def _no_dialog(live: LiveSession) -> None:
    if live.events.dialog is not None:
        raise BadRequest("a dialog is open and freezes the page: answer it with act accept_dialog or dismiss_dialog")


async def extract_page(
    live: LiveSession, max_chars: int, *, schema: dict[str, Any] | None, prompt: str | None
) -> dict[str, Any]:
    """The active tab's main content as markdown beside the caller's schema or prompt (as extract gives for a URL)."""
    return extract_result(await read_page(live, max_chars), schema=schema, prompt=prompt)


async def read_page(live: LiveSession, max_chars: int) -> dict[str, Any]:
    """The active tab's main content as markdown (url, final_url, title, markdown…), secrets masked."""
    _no_dialog(live)
    try:
        content = await page_content(live.page, ["markdown"], max_chars=max_chars, timeout=20)
    except PageFailure as failure:
        raise UpstreamUnavailable(f"the page could not be read: {failure.message}") from None
    masked = {k: mask_text(v, live.masks) if isinstance(v, str) else v for k, v in content.items()}
    masked["url"] = masked.get("final_url")
    return masked


async def screenshot_page(live: LiveSession, directory: Path, prices: PriceTable, *, full_page: bool) -> int:
    """A PNG of the active tab, recorded as the session job's next screenshot; returns its number."""
    _no_dialog(live)
    recorder = StepRecorder(live.ctx, prices, shots=ScreenshotPlan(None, full_page, directory, live.shots))
    recorder.mask_values = lambda: live.masks
    n = await recorder.screenshot(live.page, "requested")
    if n is None:
        raise UpstreamUnavailable("the page could not be captured (it did not answer, or a secret could not be hidden)")
    return n
