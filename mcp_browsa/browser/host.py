"""The one shared Chromium of this process: launched lazily, relaunched after a crash, closed on exit.

With BROWSA_BROWSER_WS set, it connects to a remote Playwright server or CDP endpoint instead.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.to_thread
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from mcp_browsa.browser.discovery import BrowserNotFound, FoundBrowser, chromium_args, find_chromium
from mcp_browsa.config import Settings
from mcp_browsa.errors import UpstreamTimeout, UpstreamUnavailable

__all__ = ["BrowserHost"]

log = logging.getLogger(__name__)


class BrowserHost:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pw: Playwright | None = None
        self._pw_cm: Any = None
        self._browser: Browser | None = None
        self._lock = anyio.Lock()
        self._driver_lock = anyio.Lock()
        self.found: FoundBrowser | None = None
        self.launches = 0
        self.version: str | None = None
        # Set when the browser goes away so holders of contexts can fail fast.
        self.generation = 0
        self._closing = False

    async def playwright(self) -> Playwright:
        """Playwright's driver, started on first use: commands that only read the database (`mcp-browsa jobs`)
        never start its Node process, and a server starts it with its first browser."""
        if self._pw is not None:
            return self._pw
        async with self._driver_lock:
            if self._pw is None:
                if self._closing:
                    raise UpstreamUnavailable("the server is shutting down")
                # Shielded: a caller cancelled half-way would leave a driver running that nothing ever stops.
                with anyio.CancelScope(shield=True):
                    self._pw_cm = async_playwright()
                    self._pw = await self._pw_cm.__aenter__()
            assert self._pw is not None
            return self._pw

    def describe(self) -> str | None:
        if self.settings.browser_ws:
            return f"remote {self.settings.browser_ws}"
        return self.found.describe() if self.found else None

    def open_contexts(self) -> int:
        """Contexts Playwright holds open in the shared browser (0 before the first launch or after a crash)."""
        if self._browser is None or not self._browser.is_connected():
            return 0
        return len(self._browser.contexts)

    async def browser(self) -> Browser:
        """The connected browser, launching (or relaunching after a crash) as needed."""
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            self._browser = await self._launch()
            self.launches += 1
            self.generation += 1
            self.version = self._browser.version
            self._browser.on("disconnected", lambda _b: self._on_disconnect())
            return self._browser

    def _on_disconnect(self) -> None:
        if self._closing:
            return
        log.warning("browser disconnected; it will be relaunched on next use")
        self.generation += 1

    async def _launch(self) -> Browser:
        if self.settings.browser_ws:
            pw = await self.playwright()
            ws = self.settings.browser_ws
            try:
                if ws.startswith(("http://", "https://")) or "/devtools/" in ws:
                    return await pw.chromium.connect_over_cdp(ws)
                return await pw.chromium.connect(ws)
            except Exception as exc:
                raise UpstreamUnavailable(f"cannot connect to BROWSA_BROWSER_WS={ws}: {exc}") from exc
        pw, found = await self._driver_and_discovery()
        if isinstance(found, BrowserNotFound):
            raise UpstreamUnavailable(f"no browser to run this in: {found}") from None
        self.found = found
        try:
            return await pw.chromium.launch(
                executable_path=self.found.executable,
                headless=not self.settings.headed,
                args=chromium_args(headed=self.settings.headed),
                # Playwright turns Chromium's popup blocker off; a page could then open windows without a click
                # (100 of them take Playwright half a minute to attach). Clicks still open windows as for a user.
                ignore_default_args=["--disable-popup-blocking"],
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
                timeout=self.settings.browser_start_timeout * 1000,
            )
        except PlaywrightTimeout:
            raise UpstreamTimeout(
                f"Chromium at {self.found.describe()} did not start within {self.settings.browser_start_timeout:.0f} s"
                " (BROWSA_BROWSER_START_TIMEOUT); the machine may be busy: try again"
            ) from None
        except Exception as exc:
            raise UpstreamUnavailable(
                f"Chromium at {self.found.describe()} failed to start: {str(exc).splitlines()[0]}."
                " Run `mcp-browsa doctor` to diagnose."
            ) from exc

    async def _driver_and_discovery(self) -> tuple[Playwright, FoundBrowser | BrowserNotFound]:
        """Start the driver while discovery runs each new candidate once (`--version`, in a thread) to see that it
        starts: the two are a cold start's first half-second each, and neither needs the other."""
        found: FoundBrowser | BrowserNotFound | None = None

        async def discover() -> None:
            nonlocal found
            try:
                found = await anyio.to_thread.run_sync(find_chromium, self.settings.chromium)
            except BrowserNotFound as exc:
                found = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(discover)
            pw = await self.playwright()
        assert found is not None
        return pw, found

    async def close(self) -> None:
        self._closing = True
        with anyio.CancelScope(shield=True):
            if self._browser is not None:
                try:
                    await self._browser.close()
                except Exception:
                    log.debug("browser close failed", exc_info=True)
                self._browser = None
            async with self._driver_lock:  # a driver still starting is stopped once it has
                if self._pw_cm is not None:
                    try:
                        await self._pw_cm.__aexit__(None, None, None)
                    except Exception:
                        log.debug("playwright stop failed", exc_info=True)
                    self._pw_cm = self._pw = None
