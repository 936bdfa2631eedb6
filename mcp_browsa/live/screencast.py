"""One page streamed as JPEG frames (CDP `Page.startScreencast`), and a human's input sent back (`Input.dispatch*`).

Chromium sends a frame when the page repaints and holds the next one until the last is acknowledged, so acking
only once a frame has gone out (and not sooner than 1/MAX_FPS after the previous one) is the back-pressure: an
idle page costs nothing, a busy one a few frames a second. Nothing runs unless someone watches.

A page whose job holds secrets is shown as screenshots are: each frame is a capture taken with the secrets
hidden (engine/screenshots.py), the screencast frame only saying that the page changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.engine.screenshots import SecretsNotHidden, secrets_hidden

__all__ = ["Frame", "Screencast"]

log = logging.getLogger(__name__)

MAX_FPS = 10.0
MASKED_FPS = 2.0  # each masked frame rewrites and restores the page's text: kept rare
QUALITY = 60
MAX_SIDE = (1280, 960)
SETTLE_SECONDS = 2.0
# Resolves once the page's main thread has run the input queued before its next frame: a CDP input call returns
# when the event is forwarded, not when the page has acted on it (typed characters landed after a later click).
_SETTLE_JS = "new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)))"


@dataclass(frozen=True)
class Frame:
    jpeg_b64: str
    width: float  # the viewport in CSS pixels the picture shows: what input coordinates map to
    height: float


class Screencast:
    """Streams `page` to `send` until `stop()`; `dispatch()` sends input to the same page."""

    def __init__(self, page: Page, *, masks: Callable[[], Collection[str]], send: Callable[[Frame], Awaitable[None]]):
        self.page = page
        self.masks = masks
        self.send = send
        self.cdp: CDPSession | None = None
        viewport = page.viewport_size
        self.width = float(viewport["width"] if viewport else 1280)
        self.height = float(viewport["height"] if viewport else 800)
        self._frames_in, self._frames_out = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def start(self, tg: TaskGroup) -> None:
        self.cdp = await self.page.context.new_cdp_session(self.page)
        self.cdp.on("Page.screencastFrame", self._on_frame)
        tg.start_soon(self._pump)
        await self.cdp.send(
            "Page.startScreencast",
            {"format": "jpeg", "quality": QUALITY, "maxWidth": MAX_SIDE[0], "maxHeight": MAX_SIDE[1]},
        )

    async def stop(self) -> None:
        self._frames_in.close()
        cdp, self.cdp = self.cdp, None
        if cdp is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(3):
            try:
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
            except PlaywrightError:
                pass  # the page or its browser is gone

    def _on_frame(self, params: dict[str, Any]) -> None:
        try:
            self._frames_in.send_nowait(params)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # unacked, so Chromium sends no more until the pump catches up

    async def _pump(self) -> None:
        last = 0.0
        async with self._frames_out:
            async for params in self._frames_out:
                meta = params.get("metadata") or {}
                self.width = float(meta.get("deviceWidth") or self.width)
                self.height = float(meta.get("deviceHeight") or self.height)
                masks = [m for m in self.masks() if m]
                gap = 1.0 / (MASKED_FPS if masks else MAX_FPS) - (time.monotonic() - last)
                if gap > 0:
                    await anyio.sleep(gap)  # the rate cap: Chromium waits for this frame's ack
                data = await self._masked(masks) if masks else str(params.get("data", ""))
                last = time.monotonic()
                if data:
                    await self.send(Frame(data, self.width, self.height))
                await self._ack(params.get("sessionId"))

    async def _masked(self, masks: Collection[str]) -> str:
        """A capture of the page with every secret hidden, or "" when that cannot be promised."""
        if self.cdp is None:
            return ""
        try:
            async with secrets_hidden(self.page, masks):
                shot = await self.cdp.send("Page.captureScreenshot", {"format": "jpeg", "quality": QUALITY})
        except (PlaywrightError, SecretsNotHidden) as exc:
            log.info("a live frame was not sent: %s", exc)
            return ""
        return str(shot.get("data", ""))

    async def _ack(self, session_id: Any) -> None:
        if self.cdp is None or session_id is None:
            return
        try:
            await self.cdp.send("Page.screencastFrameAck", {"sessionId": session_id})
        except PlaywrightError:
            pass

    # -- input ------------------------------------------------------------------------------------------------

    async def dispatch(self, method: str, params: dict[str, Any]) -> str | None:
        """Send one input event; why it was not delivered, or None."""
        if self.cdp is None:
            return "the picture was switching pages: do it again"
        try:
            await self.cdp.send(method, params)
        except PlaywrightError as exc:
            return f"not delivered: {str(exc).split(chr(10), 1)[0][:200]}"
        return None

    async def settle(self) -> None:
        """Wait (a little, at most) until the page has handled the input sent so far, so what comes next, another
        event or the agent's turn, finds it done."""
        cdp = self.cdp
        if cdp is None:
            return
        with anyio.move_on_after(SETTLE_SECONDS):
            try:
                await cdp.send("Runtime.evaluate", {"expression": _SETTLE_JS, "awaitPromise": True})
            except PlaywrightError:
                pass  # the page navigated or closed: nothing of it is left to wait for

    def point(self, fx: float, fy: float) -> tuple[float, float]:
        """A point given as fractions of the picture, in the viewport's CSS pixels."""
        return max(0.0, min(1.0, fx)) * self.width, max(0.0, min(1.0, fy)) * self.height
