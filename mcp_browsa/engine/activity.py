"""Waiting out what one action set off: requests, a main-frame navigation, a new tab — bounded, never hanging.

Used around clicks, key presses and selections so the next observation sees the page the action led to.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page, Request

from mcp_browsa.engine.tabs import Tabs

__all__ = ["EXPECTING_GRACE", "GRACE", "Activity", "short_url"]

GRACE = 0.08  # how long an action gets to start a navigation, request or tab before we call it quiet
EXPECTING_GRACE = 2.0  # the same, for actions that should lead somewhere (a link, Enter); a busy host is slow
_QUIET = 2.0  # cap on waiting for XHR/fetch to drain (long-polling pages never drain)
_POLL = 0.02
_TRACKED = frozenset({"document", "xhr", "fetch", "script"})


def short_url(url: str, relative_to: str) -> str:
    """`url` without scheme and host when it shares them with `relative_to`."""
    a, b = urlsplit(url), urlsplit(relative_to)
    if a.scheme == b.scheme and a.netloc == b.netloc:
        return url[len(f"{a.scheme}://{a.netloc}") :] or "/"
    return url


class Activity:
    """Requests, main-frame navigations and new tabs set off by one action, to know how long to settle.

    `with Activity(tabs) as act: await do_it(); await act.settle(timeout)` — listening starts before the
    action so nothing it starts is missed.
    """

    def __init__(self, tabs: Tabs) -> None:
        self.tabs = tabs
        self.page: Page = tabs.active
        self.url = self.page.url
        self.tabs_before = tabs.opened_count
        self.inflight: set[Request] = set()
        self.documents: set[Request] = set()  # main-frame navigations among them
        self.committed = False

    @property
    def new_tab(self) -> bool:
        return self.tabs.opened_count > self.tabs_before

    def __enter__(self) -> Activity:
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", self._on_done)
        self.page.on("requestfailed", self._on_done)
        self.page.on("framenavigated", self._on_navigated)
        return self

    def __exit__(self, *exc: object) -> None:
        self.page.remove_listener("request", self._on_request)
        self.page.remove_listener("requestfinished", self._on_done)
        self.page.remove_listener("requestfailed", self._on_done)
        self.page.remove_listener("framenavigated", self._on_navigated)

    def _on_request(self, request: Request) -> None:
        if request.resource_type in _TRACKED:
            self.inflight.add(request)
            # Only the top document may take the whole navigation timeout; slow ad frames must not.
            if request.resource_type == "document" and request.is_navigation_request():
                try:
                    if request.frame is self.page.main_frame:
                        self.documents.add(request)
                except PlaywrightError:
                    pass

    def _on_done(self, request: Request) -> None:
        self.inflight.discard(request)
        self.documents.discard(request)

    def _on_navigated(self, frame: Frame) -> None:
        if frame is self.page.main_frame:
            self.committed = True

    async def _drain(self, nav_deadline: float) -> None:
        quiet_deadline = time.monotonic() + _QUIET
        while self.inflight:
            deadline = nav_deadline if self.documents else quiet_deadline
            if time.monotonic() >= deadline:
                return
            await anyio.sleep(_POLL)

    async def settle(self, nav_timeout: float, grace: float = GRACE) -> None:
        """Wait until the action's effects are visible; bounded by about nav_timeout plus twice _QUIET."""
        nav_deadline = time.monotonic() + nav_timeout
        grace_deadline = time.monotonic() + grace
        while not (self.inflight or self.committed or self.new_tab) and time.monotonic() < grace_deadline:
            await anyio.sleep(_POLL)
        await self._drain(nav_deadline)
        target = self.tabs.active if self.new_tab else self.page
        if self.new_tab or self.committed or self.page.url != self.url:
            remaining_ms = max(500.0, (nav_deadline - time.monotonic()) * 1000)
            try:
                await target.wait_for_load_state("domcontentloaded", timeout=remaining_ms)
            except PlaywrightError:
                pass  # a page that never finishes loading is still observable
            if target is self.page:
                await self._drain(nav_deadline)  # the new document's own script and data requests

    def describe(self) -> str:
        if self.new_tab:
            page = self.tabs.active
            return f"; new tab {self.tabs.active_index} opened and is now active: {short_url(page.url, self.url)}"
        if self.page.url != self.url:
            return f" → {short_url(self.page.url, self.url)}"
        return ""

    @property
    def navigated(self) -> bool:
        return self.new_tab or self.page.url != self.url
