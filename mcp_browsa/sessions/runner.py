"""The runner of jobs of kind "session": it holds the browser open while the host drives it, then ends the job.

The job is pinned to the process that opened it (a session lives where its browser is). The runner pays for the
browser up front and for each started minute after the first, opens it (a burner, or an identity's profile
restored and written back when it ends), publishes the session in `slots`, and waits until it is closed, idle,
past its TTL, cancelled, or its browser is gone.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.pool import Burner
from mcp_browsa.config import Settings
from mcp_browsa.engine.agent.runner import BrowserFor
from mcp_browsa.engine.agent.walls import GuardWatch
from mcp_browsa.engine.billing import charge_browser, charge_session_minute
from mcp_browsa.engine.context import JobContext, LeaseLost, Outcome
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.engine.scrape import PageFailure, load_page
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.engine.takeover import LiveViews
from mcp_browsa.errors import BrowsaError
from mcp_browsa.models import JobStatus, PriceTable
from mcp_browsa.netpolicy import Policy
from mcp_browsa.sessions.human import shown
from mcp_browsa.sessions.live import LiveSession
from mcp_browsa.sessions.models import SessionRequest
from mcp_browsa.sessions.page_events import PageEvents
from mcp_browsa.sessions.steps import look
from mcp_browsa.workspace_secrets import Vault

__all__ = ["CdpFor", "SessionRunner", "Slot", "charge_minutes"]

log = logging.getLogger(__name__)


class CdpFor(Protocol):
    """A browser of its own with a CDP URL (identities/cdp_browser.py), for sessions opened with cdp=true."""

    def __call__(
        self, workspace_id: str, params: dict[str, Any], *, policy: Policy, on_block: Any, job_id: str, ttl: float
    ) -> AbstractAsyncContextManager[Burner]: ...


@dataclass
class Slot:
    """Where open_session meets the runner: `ready` is set once `live` is usable, or once the runner gave up."""

    ready: anyio.Event = field(default_factory=anyio.Event)
    live: LiveSession | None = None
    opened: str = ""  # what became of initial_url, for open_session's answer
    done: anyio.Event = field(default_factory=anyio.Event)


class SessionRunner:
    def __init__(
        self,
        *,
        slots: dict[str, Slot],
        browser_for: BrowserFor,
        cdp_for: CdpFor,
        policy: Any,  # Browsa.policy(allowed_domains, allow_writes=…) -> Policy
        vault: Vault,
        prices: PriceTable,
        settings: Settings,
    ) -> None:
        self.slots = slots
        self.browser_for = browser_for
        self.cdp_for = cdp_for
        self.policy = policy
        self.vault = vault
        self.prices = prices
        self.settings = settings
        self.live_views: LiveViews | None = None  # set by the app: where a person can watch and take over

    async def run(self, ctx: JobContext) -> Outcome:
        slot = self.slots.setdefault(ctx.id, Slot())
        try:
            return await self._run(ctx, slot)
        finally:
            slot.ready.set()
            slot.done.set()
            self.slots.pop(ctx.id, None)

    async def _run(self, ctx: JobContext, slot: Slot) -> Outcome:
        req = ctx.read(SessionRequest)
        assert req.allowed_domains is not None, "open_session fills allowed_domains in before the job exists"
        policy: Policy = self.policy(req.allowed_domains, allow_writes=req.allow_writes)
        # The host's own model types secrets here, so it may fill any of the workspace's: the allowlist bounds
        # where a value can go, and every result, event and screenshot masks them all.
        names = list(await self.vault.values(ctx.workspace_id))
        secrets = await self.vault.resolver(ctx.workspace_id, job_id=ctx.id, fills=names)
        await charge_browser(ctx, self.prices, identity=bool(req.identity_id), purpose="a session")
        watch = GuardWatch()
        params = req.model_dump(include={"identity_id", "os_type", "country"})
        if req.cdp:
            browser = self.cdp_for(
                ctx.workspace_id, params, policy=policy, on_block=watch.on_block, job_id=ctx.id, ttl=req.ttl_seconds
            )
        else:
            browser = self.browser_for(ctx.workspace_id, params, policy=policy, on_block=watch.on_block, job_id=ctx.id)
        async with browser as burner, anyio.create_task_group() as tg:
            events = PageEvents(tg, self.settings.downloads_dir / ctx.id)
            tabs = await Tabs.create(burner.context, on_dialog=events.on_dialog)
            events.watch(burner.context)
            watch.attach(burner.context)
            live = LiveSession(
                id=ctx.id,
                request=req,
                ctx=ctx,
                context=burner.context,
                tabs=tabs,
                watch=watch,
                events=events,
                secrets=secrets,
                tg=tg,
                nav_timeout_ms=min(self.settings.nav_timeout_ms, 20_000),
                upload_dir=self.settings.upload_dir,
                cdp_url=burner.cdp_url,
            )

            def gone(*_: object) -> None:
                live.end("its browser closed unexpectedly", browser_lost=True)

            burner.context.on("close", gone)
            try:
                async with shown(self.live_views, live):
                    slot.opened = await self._open_first(live)
                    await look(live)
                    slot.live = live
                    slot.ready.set()
                    await ctx.event("session.opened", {"url": live.obs.url[:500] if live.obs else None})
                    tg.start_soon(self._meter, live)
                    reason = await live.until_end()
            finally:
                burner.context.remove_listener("close", gone)
                watch.detach()
                tabs.close()
                tg.cancel_scope.cancel()
        return self._outcome(live, reason)

    async def _open_first(self, live: LiveSession) -> str:
        url = live.request.initial_url
        if not url:
            return "opened a blank tab"
        try:
            await load_page(live.tabs.active, url, wait_until="domcontentloaded", timeout_ms=live.nav_timeout_ms)
        except PageFailure as failure:
            return f"could not open {url[:200]}: {failure.code}: {failure.message[:300]}"
        return f"opened {mask_text(live.tabs.active.url, live.masks)[:300]}"

    async def _meter(self, live: LiveSession) -> None:
        """Charge each minute as it starts, until the session ends (or cannot pay)."""
        while live.open:
            await charge_minutes(live, self.prices)
            await anyio.sleep(max(0.5, live.started + 60 * live.minutes_paid - time.time()))

    def _outcome(self, live: LiveSession, reason: str) -> Outcome:
        url = None
        try:
            url = None if live.tabs.active.is_closed() else mask_text(live.tabs.active.url, live.masks)
        except (RuntimeError, PlaywrightError):
            pass
        result = {"ended": reason, "steps": live.steps, "final_url": url}
        if live.browser_lost:
            message = f"session {live.id} ended: {reason}; open_session again to start a new one"
            return Outcome.fail("INTERRUPTED", message, result=result)
        if reason.startswith("cancelled"):
            return Outcome(JobStatus.CANCELLED, result=result, error_message=reason)
        if reason.startswith("the credit balance"):
            return Outcome.fail("INSUFFICIENT_CREDIT", reason, result=result)
        return Outcome.ok(result)


async def charge_minutes(live: LiveSession, prices: PriceTable) -> None:
    """Charge the started minutes not paid yet: the first comes with the browser, each later one costs
    burner_minute. A balance that cannot pay ends the session."""
    async with live.meter_lock:  # one payer at a time: a minute is never charged twice
        due = max(1, math.ceil((time.time() - live.started) / 60))
        while live.minutes_paid < due and live.open:
            minute = live.minutes_paid + 1
            try:
                paid = await charge_session_minute(live.ctx, prices, minute)
            except (LeaseLost, BrowsaError) as exc:
                live.end(f"its minutes could not be charged: {exc}")
                return
            live.minutes_paid = minute
            if paid < prices.burner_minute:
                live.end("the credit balance ran out (top up with `mcp-browsa credits add N`)")
