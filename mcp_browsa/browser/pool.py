"""The burner pool: throw-away browser contexts, at most BROWSA_MAX_BURNERS at once, with warm spares.

A spare context+page for the default fingerprint is built ahead of time so acquiring one is a
hand-over, not a launch. Every context is wired to the URL guard before any page can load.

Spares are built when the pool is quiet: right after a burner is given back, or a moment after one is handed
over. Building one (a new renderer process) while the job that just took the last spare loads its first page
made that load three times slower on a 2-core machine, and the first load is what a caller waits for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from playwright.async_api import BrowserContext, Page

from mcp_browsa.browser.fingerprint import Fingerprint, apply_fingerprint, fingerprint_page, make_fingerprint
from mcp_browsa.browser.fingerprint import context_options as fingerprint_options
from mcp_browsa.browser.host import BrowserHost
from mcp_browsa.config import Settings

__all__ = ["Burner", "BurnerPool", "ContextWiring", "browser_gone"]

log = logging.getLogger(__name__)

REFILL_DELAY = 1.5  # seconds after a hand-over before a new spare is built, unless a burner is given back first
SPARE_WAIT = 5.0  # how long an acquire waits for a spare already being built rather than building its own


@dataclass
class Burner:
    """One leased browser context and its first page."""

    context: BrowserContext
    page: Page
    generation: int
    wiring: Any = None  # per-context guard state (see ContextWiring)
    acquired_at: float = field(default_factory=time.monotonic)
    cdp_url: str | None = None  # set when the context lives in a Chromium of its own that a CDP client may drive

    @property
    def healthy(self) -> bool:
        return not self.page.is_closed()


class ContextWiring:
    """How a new context is made safe. The default does nothing; the URL guard replaces it."""

    async def context_options(self) -> tuple[dict[str, Any], Any]:
        """Options for `browser.new_context` plus a handle passed to `attach` and `configure`."""
        return {"service_workers": "block"}, None

    async def attach(self, context: BrowserContext, handle: Any) -> None:
        return None

    async def ready(self, page: Page) -> None:
        """Called with each page the pool opens, before its first request."""
        return None

    async def configure(
        self, context: BrowserContext, handle: Any, policy: Any, on_block: Callable[[Any], None] | None
    ) -> None:
        """Give a context its job's policy at hand-over, before the job loads anything."""
        return None

    async def release(self, handle: Any) -> None:
        return None


class BurnerPool:
    def __init__(self, host: BrowserHost, settings: Settings, wiring: ContextWiring | None = None) -> None:
        self.host = host
        self.settings = settings
        self.wiring = wiring or ContextWiring()
        self.max = settings.max_burners
        self._slots = anyio.Semaphore(self.max)
        self._spares: list[Burner] = []
        self._tg: TaskGroup | None = None
        self._refilling = False
        self._given_back = anyio.Event()  # set when a burner is given back: a delayed refill starts at once
        self._spare_ready: anyio.Event | None = None  # set when the spare being built is ready
        self.in_use = 0
        self._default_fp: Fingerprint | None = None

    @property
    def spares(self) -> int:
        """Warm contexts ready for hand-over right now."""
        return len(self._spares)

    @property
    def building(self) -> bool:
        """A spare is being prepared (or about to be): its context may not have its page yet."""
        return self._refilling

    def bind(self, tg: TaskGroup) -> None:
        """Give the pool a task group for background refills; spares start filling now."""
        self._tg = tg
        self._schedule_refill()

    def _schedule_refill(self, delay: float = 0.0) -> None:
        if self._tg is None or self._refilling or self.settings.warm_spares <= 0:
            return
        self._refilling = True
        self._tg.start_soon(self._refill, delay)

    async def _refill(self, delay: float = 0.0) -> None:
        try:
            if delay:
                with anyio.move_on_after(delay):
                    await self._given_back.wait()
            # Not while every slot is taken: no job could take the spare before a burner is given back (which
            # starts a refill at once), and building it then takes CPU from the pages loading in those slots.
            while len(self._spares) < self.settings.warm_spares and self.in_use + len(self._spares) < self.max:
                self._spare_ready = ready = anyio.Event()
                try:
                    self._spares.append(await self._new_burner())
                finally:
                    ready.set()
        except Exception as exc:
            log.warning("could not prepare a spare burner: %s", exc)
        finally:
            self._refilling = False

    async def _wait_for_spare(self) -> Burner | None:
        """A spare: one ready now, or the one being built (sooner than building another beside it)."""
        spare = self._take_spare()
        ready = self._spare_ready
        if spare is None and ready is not None and not ready.is_set():
            with anyio.move_on_after(SPARE_WAIT):
                await ready.wait()
            spare = self._take_spare()
        return spare

    async def _new_burner(self, context_options: dict[str, Any] | None = None) -> Burner:
        browser = await self.host.next_browser()
        generation = self.host.generation
        options, handle = await self.wiring.context_options()
        # A context the caller did not dress gets the default fingerprint: a plain headless context says
        # "HeadlessChrome" and webdriver=true to every site, which is what bot walls look for first.
        fp = None if context_options else self._default_fingerprint(browser.version)
        options.update(context_options or fingerprint_options(fp))  # type: ignore[arg-type]  # fp is set here
        context = await browser.new_context(**options)
        try:
            await self.wiring.attach(context, handle)
            context.set_default_navigation_timeout(self.settings.nav_timeout_ms)
            if fp is not None:
                await apply_fingerprint(context, fp)
            page = await context.new_page()
            if fp is not None:
                await fingerprint_page(page)
            await self.wiring.ready(page)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _close_quietly(context)
                await self.wiring.release(handle)
            raise
        return Burner(context=context, page=page, generation=generation, wiring=handle)

    def _default_fingerprint(self, version: str) -> Fingerprint:
        """One fingerprint for every plain burner of this data dir: the same page looks (and screenshots) the
        same from one job to the next, as it would from one person's machine."""
        if self._default_fp is None or self._default_fp.chromium_version != version:
            self._default_fp = make_fingerprint(chromium_version=version, seed=f"default:{self.settings.home}")
        return self._default_fp

    def _take_spare(self) -> Burner | None:
        while self._spares:
            spare = self._spares.pop()
            if spare.generation == self.host.generation and spare.healthy:
                return spare
            if self._tg is not None:
                self._tg.start_soon(self._dispose, spare)
        return None

    def reserve_nowait(self) -> bool:
        """Take a slot for a browser that lives outside the pool (an identity's own Chromium); False when full.

        Identities count against BROWSA_MAX_BURNERS like contexts do; `unreserve()` gives the slot back.
        """
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            return False
        self.in_use += 1
        return True

    def unreserve(self) -> None:
        self.in_use -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A slot for one more tab of a burner already leased (a batch's lanes share one context): a tab counts
        against BROWSA_MAX_BURNERS like a burner does, and waits like one when there is none free."""
        async with self._slots:
            self.in_use += 1
            try:
                yield
            finally:
                self.in_use -= 1

    @asynccontextmanager
    async def acquire(
        self,
        *,
        policy: Any = None,
        on_block: Callable[[Any], None] | None = None,
        context_options: dict[str, Any] | None = None,
    ) -> AsyncIterator[Burner]:
        """Lease a burner for the duration of the block; it is closed (never reused) afterwards."""
        async with self._slots:
            self.in_use += 1
            burner: Burner | None = None
            try:
                burner = None if context_options else await self._wait_for_spare()
                if burner is None:
                    burner = await self._new_burner(context_options)
                await self.wiring.configure(burner.context, burner.wiring, policy, on_block)
                burner.acquired_at = time.monotonic()
                self._given_back = anyio.Event()
                self._schedule_refill(REFILL_DELAY)
                yield burner
            finally:
                self.in_use -= 1
                if burner is not None:
                    with anyio.CancelScope(shield=True):
                        await self._dispose(burner)
                self._given_back.set()
                self._schedule_refill()

    async def _dispose(self, burner: Burner) -> None:
        await _close_quietly(burner.context)
        await self.wiring.release(burner.wiring)

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            spares, self._spares = self._spares, []
            for spare in spares:
                await self._dispose(spare)


async def _close_quietly(context: BrowserContext) -> None:
    try:
        with anyio.fail_after(10):
            await context.close()
    except Exception:
        log.debug("context close failed", exc_info=True)


async def browser_gone(burner: Burner, error: BaseException | None = None, grace: float = 2.0) -> bool:
    """Whether the browser under `burner` died (a crash, the OOM killer), as opposed to its page failing.

    Given the `error` a call just raised, waits up to `grace` for the browser's "disconnected" event, which can
    trail that error by a moment; only when the error says something was closed, so other failures cost nothing.
    """
    browser = burner.context.browser
    if browser is None:
        return False
    if not browser.is_connected():
        return True
    if error is None or ("closed" not in str(error).split("\n", 1)[0].lower() and not burner.page.is_closed()):
        return False
    with anyio.move_on_after(grace):
        while browser.is_connected():
            await anyio.sleep(0.05)
    return not browser.is_connected()
