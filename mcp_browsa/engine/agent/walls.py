"""Walls an agent cannot pass: CAPTCHA widgets and challenge pages, and navigations the URL guard refused.

`GuardWatch` collects what the guard blocked while a task runs; a blocked top-level navigation ends the
task BLOCKED, a blocked write is reported to the model, other blocked requests are only recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from playwright.async_api import BrowserContext, Page, Request, Response
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.guard import BlockedRequest

__all__ = ["GuardWatch", "Refusal", "detect_captcha"]

log = logging.getLogger(__name__)

# Widgets by their frames and mount points, then challenge pages by their words (title or the top of the text).
_CAPTCHA_SECONDS = 5.0
_CAPTCHA_JS = r"""() => {
  const widgets = [
    [/recaptcha|google\.com\/recaptcha/i, 'reCAPTCHA'],
    [/hcaptcha\.com|hcaptcha/i, 'hCaptcha'],
    [/challenges\.cloudflare\.com|turnstile/i, 'Cloudflare Turnstile'],
    [/arkoselabs|funcaptcha/i, 'Arkose FunCaptcha'],
    [/geo\.captcha-delivery|datadome/i, 'DataDome'],
  ];
  for (const f of document.querySelectorAll('iframe')) {
    const src = (f.getAttribute('src') || '') + ' ' + (f.getAttribute('title') || '');
    for (const [re, name] of widgets) if (re.test(src)) return `${name} widget`;
  }
  const mounts = [['.g-recaptcha', 'reCAPTCHA'], ['.h-captcha', 'hCaptcha'], ['.cf-turnstile', 'Cloudflare Turnstile'],
                  ['[data-hcaptcha-widget-id]', 'hCaptcha'], ['#challenge-form', 'Cloudflare challenge']];
  for (const [sel, name] of mounts) if (document.querySelector(sel)) return `${name} widget`;
  const text = (document.title + '\n' + (document.body ? document.body.innerText : '').slice(0, 3000)).toLowerCase();
  const phrases = ['verify you are human', 'verify that you are human', 'are you a robot', "i'm not a robot",
                   'checking your browser before', 'checking if the site connection is secure',
                   'press & hold', 'press and hold to confirm', 'unusual traffic from your computer',
                   'complete the security check', 'prove you are human'];
  for (const p of phrases) if (text.includes(p)) return `challenge page ("${p}")`;
  return null;
}"""


async def detect_captcha(page: Page) -> str | None:
    """What kind of CAPTCHA or human check the page shows, or None. Best effort: an unreadable page is None.

    Bounded: a page whose script never yields its main thread would otherwise hold the task past its own timeout.
    """
    found = None
    try:
        with anyio.move_on_after(_CAPTCHA_SECONDS):
            found = await page.evaluate(_CAPTCHA_JS)
    except PlaywrightError:
        return None
    return str(found) if found else None


@dataclass(frozen=True)
class Refusal:
    """A request the guard refused, as the model and the job's events see it."""

    url: str
    rule: str
    reason: str
    method: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"url": self.url[:300], "rule": self.rule, "reason": self.reason, "method": self.method}


def _host(url_or_host: str) -> str:
    return (urlsplit(url_or_host if "://" in url_or_host else "http://" + url_or_host).hostname or "").lower()


class GuardWatch:
    """Listens to the guard (`on_block`) and the context's main-frame navigations for one task attempt."""

    def __init__(self) -> None:
        self.navigation: Refusal | None = None  # a refused top-level navigation: the task ends BLOCKED
        self._writes: list[Refusal] = []
        self._other: list[Refusal] = []
        self._proxy_hosts: dict[str, BlockedRequest] = {}
        self._context: BrowserContext | None = None

    # -- the guard's callback (runs in the proxy or the route hook) --------------------------------------

    def on_block(self, blocked: BlockedRequest) -> None:
        refusal = Refusal(blocked.url_or_host, blocked.rule, blocked.reason, blocked.method)
        if blocked.rule == "writes":
            self._writes.append(refusal)  # allow_writes=false: the model is told, the task goes on
        elif blocked.navigation:
            self.navigation = self.navigation or refusal
        else:
            self._other.append(refusal)
            if blocked.source == "proxy":
                self._proxy_hosts[_host(blocked.url_or_host)] = blocked

    # -- the context's navigations -----------------------------------------------------------------------

    def attach(self, context: BrowserContext) -> None:
        self._context = context
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_failed)

    def detach(self) -> None:
        if self._context is not None:
            self._context.remove_listener("response", self._on_response)
            self._context.remove_listener("requestfailed", self._on_failed)
            self._context = None

    @staticmethod
    def _top_navigation(request: Request) -> bool:
        try:
            return request.is_navigation_request() and request.frame.parent_frame is None
        except PlaywrightError:
            return False  # service-worker requests have no frame

    def _on_response(self, response: Response) -> None:
        # The proxy answers a refused plain-HTTP request with its own page, marked with this header.
        rule = response.headers.get("x-browsa-guard")
        if rule and self._top_navigation(response.request) and self.navigation is None:
            self.navigation = Refusal(response.url, rule, "refused by the URL guard", response.request.method)

    def _on_failed(self, request: Request) -> None:
        # An HTTPS navigation the proxy refused fails as a tunnel error; the proxy reported its host just before.
        if self.navigation is not None or not self._top_navigation(request):
            return
        blocked = self._proxy_hosts.get(_host(request.url))
        if blocked is not None:
            self.navigation = Refusal(request.url, blocked.rule, blocked.reason, request.method)

    # -- what the loop reads between steps -----------------------------------------------------------------

    def take_writes(self) -> list[Refusal]:
        taken, self._writes = self._writes, []
        return taken

    def take_other(self) -> list[Refusal]:
        taken, self._other = self._other, []
        return taken
