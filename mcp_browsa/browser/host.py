"""The one shared Chromium of this process: launched lazily, relaunched after a crash, closed on exit.

With BROWSA_BROWSER_WS set, it hands out remote browsers in turn instead (see remote.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.to_thread
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from mcp_browsa.browser.discovery import BrowserNotFound, FoundBrowser, chromium_args, find_chromium
from mcp_browsa.browser.remote import RemoteBrowsers
from mcp_browsa.config import Settings
from mcp_browsa.errors import BadRequest, UpstreamTimeout, UpstreamUnavailable
from mcp_browsa.remote_endpoints import BrowserEndpoint, parse_browser_endpoints

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
        self._early: anyio.CancelScope | None = None  # the launch_early in flight, which close() stops
        endpoints = parse_browser_endpoints(settings.browser_ws)
        self.remote = (
            RemoteBrowsers(
                endpoints,
                headed=settings.headed,
                timeout=settings.browser_start_timeout,
                on_connect=self._connected,
            )
            if endpoints
            else None
        )

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
        if self.remote is not None:
            return "remote " + ", ".join(e.name for e in self.remote.endpoints)
        return self.found.describe() if self.found else None

    def refuse_own_chromium(self, what: str, instead: str) -> None:
        """BadRequest for `what` when browsers are remote: a caller's CDP URL needs a Chromium this server launched.

        A remote endpoint is one browser shared by many jobs, so its CDP URL would hand the caller all of them, and
        an operator who points us at remote browsers expects none to start here.
        """
        if self.remote is not None:
            raise BadRequest(
                f"{what} needs a Chromium of its own launched by this server, and this server runs its browsers"
                f" remotely (BROWSA_BROWSER_WS); {instead}"
            )

    def open_contexts(self) -> int:
        """Contexts Playwright holds open in the shared browser (0 before the first launch or after a crash)."""
        if self.remote is not None:
            return sum(len(b.contexts) for b in self.remote.browsers())
        if self._browser is None or not self._browser.is_connected():
            return 0
        return len(self._browser.contexts)

    async def browser(self) -> Browser:
        """The connected browser, launching (or relaunching after a crash) as needed."""
        return await self._browser_in_turn(advance=False)

    async def next_browser(self) -> Browser:
        """The browser a new context goes to: the shared one, or with remote browsers the next in turn."""
        return await self._browser_in_turn(advance=True)

    async def _browser_in_turn(self, *, advance: bool) -> Browser:
        if self.remote is not None:
            if self._closing:
                raise UpstreamUnavailable("the server is shutting down")
            return await self.remote.browser(await self.playwright(), advance=advance)
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            started = time.monotonic()
            self._browser = await self._launch()
            self.launches += 1
            self.generation += 1
            self.version = self._browser.version
            log.info("Chromium %s up in %.2f s (launch %d)", self.version, time.monotonic() - started, self.launches)
            self._browser.on("disconnected", lambda _b: self._on_disconnect())
            return self._browser

    async def launch_early(self) -> None:
        """Start the browser before any job asks for it, so that the first one finds it up.

        A failure here is only logged: the first job tries again and fails with the error that tells its caller
        what to do (UPSTREAM_UNAVAILABLE, or UPSTREAM_TIMEOUT); a server does not refuse to start over it.
        """
        with anyio.CancelScope() as self._early:
            try:
                await self.browser()
            except Exception as exc:
                if not self._closing:
                    log.warning("the browser did not start ahead of the first job: %s", exc)
        self._early = None

    def _connected(self, browser: Browser, endpoint: BrowserEndpoint) -> None:
        self.launches += 1
        self.version = browser.version
        browser.on("disconnected", lambda _b: self._on_disconnect(endpoint.name))

    def _on_disconnect(self, remote: str | None = None) -> None:
        if self._closing:
            return
        if remote is None:
            log.warning("browser disconnected; it will be relaunched on next use")
        else:
            log.warning("remote browser %s disconnected; it will be reconnected on next use", remote)
        self.generation += 1

    async def _launch(self) -> Browser:
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
        if self._early is not None:
            self._early.cancel()
        with anyio.CancelScope(shield=True):
            if self.remote is not None:
                await self.remote.close()
            async with self._lock:  # a launch under way ends (or is cancelled) first: what it started is closed here
                pass
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
