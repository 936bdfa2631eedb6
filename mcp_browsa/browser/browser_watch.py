"""The guard's browser-wide hook: write-capable requests of every page, paused by the browser target's CDP `Fetch`.

Why, besides each page's own session: a page opened by a page (a popup from `window.open`, a form or a link with a
target) reaches this process only once its first navigation has committed, too late for a session of its own, and
over HTTPS the proxy sees a tunnel, never the method. The browser target's `Fetch` pauses requests of every frame
from their first one, so a popup's first POST is judged here like any other. A request names its frame; a page's
main frame id is its target id, which tells the browser context and so the policy to apply. Requests of other frames
(iframes, whose own checks are the page sessions') are let go at once.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import anyio
from playwright.async_api import Browser, CDPSession
from playwright.async_api import Error as PlaywrightError

__all__ = ["Judge", "watch_browser"]

log = logging.getLogger(__name__)

# (the page target's info, the Fetch.requestPaused event) -> whether the request may go on
Judge = Callable[[dict[str, Any], dict[str, Any]], bool]
_KNOWN_FRAMES = 4096  # frame id -> page target info (None: not a page's main frame); dropped oldest first


class _BrowserWatch:
    def __init__(self, browser: Browser, judge: Judge) -> None:
        self.browser = browser
        self.judge = judge
        self.session: CDPSession | None = None
        self.ready = anyio.Event()
        self.failed: BaseException | None = None
        self._frames: dict[str, dict[str, Any] | None] = {}

    async def start(self, types: tuple[str, ...]) -> None:
        self.session = session = await self.browser.new_browser_cdp_session()
        session.on("Fetch.requestPaused", self._on_paused)
        patterns = [{"resourceType": t, "requestStage": "Request"} for t in types]
        await session.send("Fetch.enable", {"patterns": patterns})

    async def _on_paused(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        request_id = event["requestId"]
        try:
            target = await self._page_of(event.get("frameId"))
            allowed = target is None or self.judge(target, event)
            if allowed:
                await self.session.send("Fetch.continueRequest", {"requestId": request_id})
            else:
                await self.session.send(
                    "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
                )
        except PlaywrightError:
            pass  # the browser or the request went away while it was paused
        except Exception:
            log.exception("browser-wide request guard failed on %s", event.get("request", {}).get("url"))
            try:  # fail closed: a request nobody could judge does not leave
                await self.session.send(
                    "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
                )
            except PlaywrightError:
                pass

    async def _page_of(self, frame_id: str | None) -> dict[str, Any] | None:
        """The page target whose main frame is `frame_id`, or None for another frame (or none named)."""
        if not frame_id:
            return None
        if frame_id in self._frames:
            return self._frames[frame_id]
        assert self.session is not None
        try:
            info: dict[str, Any] | None = (await self.session.send("Target.getTargetInfo", {"targetId": frame_id}))[
                "targetInfo"
            ]
        except PlaywrightError:
            info = None  # a frame id that is no target: an iframe in its page's process
        if info is not None and info.get("type") != "page":
            info = None  # an out-of-process iframe: held and checked through its page's session
        if len(self._frames) >= _KNOWN_FRAMES:
            del self._frames[next(iter(self._frames))]
        self._frames[frame_id] = info
        return info


_watches: weakref.WeakKeyDictionary[Browser, _BrowserWatch] = weakref.WeakKeyDictionary()


async def watch_browser(browser: Browser, types: tuple[str, ...], judge: Judge) -> None:
    """Pause requests of `types` in every page of `browser`, from its first, and let `judge` decide; once per browser."""
    watch = _watches.get(browser)
    if watch is not None:
        await watch.ready.wait()
        if watch.failed is not None:
            raise watch.failed
        return
    _watches[browser] = watch = _BrowserWatch(browser, judge)
    try:
        await watch.start(types)
    except BaseException as exc:
        watch.failed = exc
        del _watches[browser]
        raise
    finally:
        watch.ready.set()
