"""A live identity browser: its Chromium process, the fingerprint keeper, our own CDP connection, and its guard lease.

Started and stopped as one unit, so a failure half-way leaves no process, port or profile dir behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from playwright.async_api import Browser, BrowserContext, Playwright
from playwright.async_api import Error as PlaywrightError
from websockets.exceptions import WebSocketException

from mcp_browsa.browser.fingerprint import Fingerprint
from mcp_browsa.browser.guard import EgressProxy, ProxyLease
from mcp_browsa.browser.netpolicy import Policy
from mcp_browsa.errors import UpstreamUnavailable
from mcp_browsa.identities.cdp import (
    ChromiumProcess,
    identity_args,
    launch_chromium,
    new_profile_dir,
    remove_profile_dir,
)
from mcp_browsa.identities.keeper import CdpError, FingerprintKeeper

__all__ = ["LiveBrowser", "start_live"]

log = logging.getLogger(__name__)


@dataclass
class LiveBrowser:
    """One identity's running browser; `kind` is "burner" or "interactive" (a persistent identity's open session)."""

    agent_id: str
    workspace_id: str
    kind: str
    fp: Fingerprint
    process: ChromiumProcess
    keeper: FingerprintKeeper
    browser: Browser
    lease: ProxyLease
    session_id: str | None = None
    expires_at: float | None = None
    # Cancelled when the browser stops: ends its expiry timer and its exit watcher.
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    stopping: bool = False
    stopped: anyio.Event = field(default_factory=anyio.Event)

    @property
    def context(self) -> BrowserContext:
        """The default context: the one a CDP client gets as `browser.contexts[0]`."""
        return self.browser.contexts[0]

    async def storage_state(self, timeout: float = 20.0) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            return dict(await self.context.storage_state())

    async def stop(self) -> None:
        """Disconnect, close the keeper, stop Chromium and revoke the guard port; safe to call twice."""
        if self.stopping:
            await self.stopped.wait()
            return
        self.stopping = True
        with anyio.CancelScope(shield=True):
            try:
                with anyio.move_on_after(5):
                    await self.browser.close()  # for a CDP connection this only disconnects us
            except PlaywrightError:
                pass
            await self.keeper.close()
            await self.process.stop()
            await self.lease.close()
            self.scope.cancel()
            self.stopped.set()


async def start_live(
    tg: TaskGroup,
    playwright: Playwright,
    proxy: EgressProxy,
    *,
    agent_id: str,
    workspace_id: str,
    kind: str,
    fp: Fingerprint,
    policy: Policy,
    executable: str,
    headed: bool,
    start_timeout: float = 30.0,
) -> LiveBrowser:
    """Launch an identity's Chromium behind its own guard port and fingerprint it; CDP-ready on return."""
    lease = await proxy.register(policy)
    profile = new_profile_dir(agent_id)
    process: ChromiumProcess | None = None
    keeper: FingerprintKeeper | None = None
    try:
        args = identity_args(fp, profile_dir=profile, proxy_port=lease.port, headed=headed)
        # TZ gives every realm (pages, workers, Intl and Date alike) the identity's clock without an override.
        process = await launch_chromium(
            executable, args, profile_dir=profile, env={"TZ": fp.timezone}, timeout=start_timeout
        )
        try:
            keeper = await FingerprintKeeper.connect(process.ws_url, fp)
            await tg.start(keeper.run)
        except (OSError, TimeoutError, CdpError, WebSocketException) as exc:
            raise UpstreamUnavailable(f"cannot attach to the identity's browser: {exc}") from exc
        try:
            browser = await playwright.chromium.connect_over_cdp(process.http_url, timeout=30_000)
        except PlaywrightError as exc:
            raise UpstreamUnavailable(f"cannot connect to the identity's browser: {str(exc).splitlines()[0]}") from exc
        return LiveBrowser(agent_id, workspace_id, kind, fp, process, keeper, browser, lease)
    except BaseException:
        with anyio.CancelScope(shield=True):
            if keeper is not None:
                await keeper.close()
            if process is not None:
                await process.stop(grace=0)
            else:
                remove_profile_dir(profile)
            await lease.close()
        raise
