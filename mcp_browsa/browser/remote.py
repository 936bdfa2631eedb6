"""Remote browsers (BROWSA_BROWSER_WS): each endpoint connected on first use, handed out in turn, a dead one skipped.

A Playwright server (`playwright run-server`) launches Chromium with our launch arguments, the guard's among them; a
CDP endpoint is a Chromium someone else started. Either way a connection is used only once its WebRTC is shown to
stay on the proxy: WebRTC sends UDP straight to any address, past every HTTP proxy, and only a launch flag (or the
WebRtcIPHandling policy) stops it. A Playwright server started without --unsafe drops our arguments silently, so the
check looks at what the browser does (its ICE candidates), not at what we asked for.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from playwright.async_api import Browser, Playwright, async_playwright

from mcp_browsa.browser.discovery import chromium_args
from mcp_browsa.config import Settings
from mcp_browsa.errors import UpstreamUnavailable
from mcp_browsa.remote_endpoints import BrowserEndpoint, parse_browser_endpoints, parse_listen

__all__ = [
    "RemoteBrowsers",
    "UnsafeRemoteBrowser",
    "check_remote_browsers",
    "egress_listen",
    "unreachable_proxy_warning",
    "webrtc_stays_on_proxy",
]

log = logging.getLogger(__name__)

SKIP_SECONDS = 30.0  # how long an endpoint that did not answer is passed over while others do

# Gathers the page's ICE candidates with no STUN server: a browser that may send UDP past the proxy offers host
# candidates ("… udp … typ host"); one held to the proxy offers none.
_ICE_CANDIDATES = """async () => {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.createDataChannel("probe");
  const found = [];
  const done = new Promise((resolve) => {
    pc.onicecandidate = (e) => (e.candidate ? found.push(e.candidate.candidate) : resolve());
    setTimeout(resolve, 3000);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return found;
}"""


def egress_listen(settings: Settings) -> tuple[str, int] | None:
    """Where the egress proxy listens for remote browsers, or None: a loopback port per context, as for local ones."""
    if warning := unreachable_proxy_warning(settings):
        log.warning("%s", warning)
    return parse_listen(settings.egress_listen) if settings.egress_listen else None


def unreachable_proxy_warning(settings: Settings) -> str | None:
    """What to say when remote browsers on other machines are told a loopback proxy they cannot reach."""
    if settings.egress_listen:
        return None
    away = [e.name for e in parse_browser_endpoints(settings.browser_ws) if not _is_loopback(e.host)]
    if not away:
        return None
    return (
        f"remote browsers {', '.join(away)} cannot reach the egress proxy on this machine's loopback, so every page"
        " they load fails; set BROWSA_EGRESS_LISTEN=host:port to an address they reach"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def webrtc_stays_on_proxy(browser: Browser) -> bool:
    """Whether WebRTC in `browser` gathers no UDP candidate, so it cannot talk past the egress proxy."""
    # A proxy nobody answers at: the probe loads nothing, and nothing it might load could go anywhere.
    context = await browser.new_context(proxy={"server": "http://127.0.0.1:9"})
    try:
        page = await context.new_page()
        candidates: list[str] = await page.evaluate(_ICE_CANDIDATES)
    finally:
        await context.close()
    return not any(" udp " in c.lower() for c in candidates)


class UnsafeRemoteBrowser(UpstreamUnavailable):
    """An endpoint that answers but where the URL guard cannot hold (its WebRTC is not kept on the proxy)."""


@dataclass(eq=False)
class _Remote:
    endpoint: BrowserEndpoint
    browser: Browser | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    down_until: float = 0.0  # monotonic time before which it is tried only when no other answers
    failed_at: float = -1.0
    error: str = ""

    @property
    def connected(self) -> bool:
        return self.browser is not None and self.browser.is_connected()


class RemoteBrowsers:
    """The endpoints of BROWSA_BROWSER_WS; `browser()` gives the next one in turn that answers."""

    def __init__(
        self,
        endpoints: tuple[BrowserEndpoint, ...],
        *,
        headed: bool,
        timeout: float,
        on_connect: Callable[[Browser, BrowserEndpoint], None],
    ) -> None:
        self._remotes = [_Remote(e) for e in endpoints]
        self.headed = headed
        self.timeout = timeout
        self._on_connect = on_connect
        self._turn = 0

    @property
    def endpoints(self) -> list[BrowserEndpoint]:
        return [r.endpoint for r in self._remotes]

    def browsers(self) -> list[Browser]:
        """The connections open now."""
        return [r.browser for r in self._remotes if r.browser is not None and r.connected]

    async def browser(self, pw: Playwright, *, advance: bool) -> Browser:
        """The browser whose turn it is, connecting as needed; UpstreamUnavailable when none answers.

        `advance` passes the turn on: for a new context, and not for a caller that only needs a browser up.
        """
        n = len(self._remotes)
        order = [self._remotes[(self._turn + i) % n] for i in range(n)]
        now = time.monotonic()
        # Those that failed lately go last: tried only when every other one fails too.
        order = [r for r in order if r.down_until <= now] + [r for r in order if r.down_until > now]
        errors = []
        for remote in order:
            try:
                browser = await self._connect(remote, pw)
            except UpstreamUnavailable as exc:
                errors.append(exc.message)
                continue
            self._turn = (self._remotes.index(remote) + (1 if advance else 0)) % n
            return browser
        raise UpstreamUnavailable("no remote browser of BROWSA_BROWSER_WS answers: " + "; ".join(errors))

    async def _connect(self, remote: _Remote, pw: Playwright) -> Browser:
        if remote.browser is not None and remote.connected:
            return remote.browser
        asked = time.monotonic()
        async with remote.lock:
            if remote.browser is not None and remote.connected:
                return remote.browser
            if remote.failed_at >= asked:  # it failed for another caller while this one waited: once is enough
                raise UpstreamUnavailable(remote.error)
            try:
                browser = await self.open(remote.endpoint, pw)
            except UpstreamUnavailable as exc:
                remote.failed_at = time.monotonic()
                remote.down_until, remote.error = remote.failed_at + SKIP_SECONDS, exc.message
                log.warning("remote browser skipped for %.0f s: %s", SKIP_SECONDS, exc.message)
                raise
            remote.browser, remote.down_until = browser, 0.0
            log.info("connected to remote browser %s (Chromium %s)", remote.endpoint.name, browser.version)
            self._on_connect(browser, remote.endpoint)
            return browser

    async def open(self, endpoint: BrowserEndpoint, pw: Playwright) -> Browser:
        """A new connection to `endpoint`, checked; UpstreamUnavailable names the endpoint and what went wrong."""
        name = endpoint.name
        try:
            if endpoint.kind == "cdp":
                browser = await pw.chromium.connect_over_cdp(endpoint.url, timeout=self.timeout * 1000)
            else:
                options = self._launch_options(endpoint)
                header = {"x-playwright-launch-options": json.dumps(options)}
                browser = await pw.chromium.connect(endpoint.url, timeout=self.timeout * 1000, headers=header)
        except Exception as exc:
            raise UpstreamUnavailable(f"{name}: {_first_line(exc)}") from None
        try:
            sealed = await webrtc_stays_on_proxy(browser)
        except Exception as exc:
            await _disconnect(browser)
            raise UpstreamUnavailable(f"{name}: its browser failed a first check: {_first_line(exc)}") from None
        if not sealed:
            await _disconnect(browser)
            how = (
                "start its Playwright server with --unsafe so it takes our launch arguments"
                if endpoint.kind == "playwright"
                else "start that Chromium with --webrtc-ip-handling-policy=disable_non_proxied_udp"
            )
            raise UnsafeRemoteBrowser(
                f"{name}: its WebRTC can send UDP past the egress proxy, so the URL guard cannot hold there; {how}"
                " (or set Chromium's WebRtcIPHandling policy to disable_non_proxied_udp)"
            )
        return browser

    def _launch_options(self, endpoint: BrowserEndpoint) -> dict[str, Any]:
        own = endpoint.launch_options
        return {
            "headless": not self.headed,
            "ignoreDefaultArgs": ["--disable-popup-blocking"],  # see BrowserHost._launch
            "timeout": self.timeout * 1000,
            **{k: v for k, v in own.items() if k != "args"},
            "args": [*chromium_args(headed=self.headed), *own.get("args", [])],
        }

    async def close(self) -> None:
        for remote in self._remotes:
            if remote.browser is not None:
                await _disconnect(remote.browser)
                remote.browser = None


async def _disconnect(browser: Browser) -> None:
    # A remote browser's close() ends our connection: a Playwright server then closes the browser it launched for
    # us, and a CDP endpoint's Chromium stays up with the contexts we made in it closed.
    try:
        with anyio.fail_after(10):
            await browser.close()
    except Exception:
        log.debug("remote browser close failed", exc_info=True)


async def check_remote_browsers(settings: Settings) -> tuple[list[str], bool]:
    """For `doctor`: a line per endpoint saying whether it answers (and passes the WebRTC check), and whether all do."""
    endpoints = parse_browser_endpoints(settings.browser_ws)
    remote = RemoteBrowsers(
        endpoints, headed=settings.headed, timeout=settings.browser_start_timeout, on_connect=lambda _b, _e: None
    )
    lines, every = [], True
    async with async_playwright() as pw:
        for endpoint in endpoints:
            try:
                browser = await remote.open(endpoint, pw)
            except UpstreamUnavailable as exc:
                reason = exc.message.removeprefix(f"{endpoint.name}: ")
                verdict = "REFUSED" if isinstance(exc, UnsafeRemoteBrowser) else "DOES NOT ANSWER"
                lines.append(f"{endpoint.name} ({endpoint.kind}): {verdict} — {reason}")
                every = False
                continue
            lines.append(f"{endpoint.name} ({endpoint.kind}): answers, Chromium {browser.version}")
            await _disconnect(browser)
    return lines, every


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
