"""Read-only page work with no LLM: load a URL in a burner and return its content in the asked formats.

Used by the scrape, extract and screenshot jobs and by URL batch rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeout

from mcp_browsa.engine.reader import read_markdown
from mcp_browsa.engine.screenshots import capture
from mcp_browsa.engine.whitespace import squeeze

__all__ = [
    "FORMATS",
    "NO_TARGET_STATUSES",
    "PageFailure",
    "WaitUntil",
    "load_page",
    "navigate",
    "page_content",
    "refused_navigation",
]

NO_TARGET_STATUSES = (404, 410)  # the page is not there: a batch row or a task that needed it ends NO_TARGET

FORMATS = ("html", "text", "links", "markdown", "screenshot")
WaitUntil = Literal["load", "domcontentloaded", "networkidle", "commit"]

# Everything the other text formats need in one round trip to the page: the title, and for each format asked a
# prefix of at most `cap` characters with the full length. Markdown is made in the page too (engine/reader.py).
_READ_JS = r"""({cap, html, text, links}) => {
  const out = {title: document.title};
  const part = (s) => [s.slice(0, cap), s.length];
  if (html) {
    const d = document.doctype;
    out.html = part((d ? '<!DOCTYPE ' + d.name + '>' : '') + document.documentElement.outerHTML);
  }
  if (text) out.text = part(document.body ? document.body.innerText : '');
  if (links) {
    const canonical = document.querySelector('link[rel~=canonical][href]');
    out.canonical = canonical ? canonical.href : null;
    out.links = Array.from(document.querySelectorAll('a[href]')).slice(0, 5000).map(a => ({
      url: a.href,
      text: (a.innerText || a.getAttribute('aria-label') || '').trim().replace(/\s+/g, ' ').slice(0, 200)
    })).filter(l => /^https?:/.test(l.url));
  }
  return out;
}"""

# Only this much of a page's HTML or text leaves the browser, as a multiple of max_chars (markup and blank runs
# shrink on the way to text), so a 50 MB page costs what a page of a few hundred KB does: converting it to
# markdown all at once would hold the server up for half a minute.
_READ_FACTOR = 8
_READ_MIN = 200_000
_READ_TRIES = 3  # reads of a page that navigates on its own, one per document it lands on
_NAVIGATED_AWAY = ("Execution context was destroyed", "Cannot find context with specified id", "Frame was detached")


@dataclass
class PageFailure(Exception):
    """The page could not be loaded: `code` is the job error code (TIMEOUT, UPSTREAM_UNAVAILABLE, BLOCKED)."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": "the host name does not resolve; check the URL",
    "ERR_CONNECTION_REFUSED": "the server refused the connection; is it up?",
    "ERR_CONNECTION_RESET": "the server reset the connection",
    "ERR_CONNECTION_CLOSED": "the server closed the connection",
    "ERR_ADDRESS_UNREACHABLE": "the address is unreachable",
    "ERR_INTERNET_DISCONNECTED": "no network",
    "ERR_CERT": "the site's TLS certificate is not valid",
    "ERR_SSL": "TLS handshake failed",
    "ERR_TOO_MANY_REDIRECTS": "the page redirects in a loop",
    # Through the egress proxy this is any failed CONNECT; the runner calls it BLOCKED when the guard reported a block.
    "ERR_TUNNEL_CONNECTION_FAILED": "no connection could be made (the host may not resolve, or refuses or ignores it)",
    "ERR_BLOCKED_BY_CLIENT": "the URL guard refused the request",
    "ERR_ABORTED": "the navigation was aborted",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
    "ERR_UNSAFE_PORT": "browsers refuse this port (it belongs to another protocol); use the site's web port",
}


def refused_navigation(url: str, blocked: list[dict[str, Any]]) -> PageFailure | None:
    """BLOCKED, naming the rule, when the guard refused a top-level navigation the page at `url` made on its own."""
    moved = next((b for b in blocked if b["navigation"]), None)
    if moved is None:
        return None
    return PageFailure(
        "BLOCKED",
        f"{url} navigated to {moved['url']}, blocked by the URL guard ({moved['rule']}: {moved['reason']})",
    )


def classify_navigation_error(exc: BaseException, url: str) -> PageFailure:
    text = str(exc)
    if isinstance(exc, PlaywrightTimeout) or "Timeout" in text.split("\n", 1)[0]:
        return PageFailure("TIMEOUT", f"{url} did not finish loading in time; try wait_until='domcontentloaded'")
    if "Page crashed" in text or "Target crashed" in text:
        return PageFailure(
            "UPSTREAM_UNAVAILABLE", f"{url}: the page crashed its browser tab (most often by using too much memory)"
        )
    m = re.search(r"net::(ERR_[A-Z_]+)", text)
    if m:
        err = m.group(1)
        for key, meaning in _NET_ERRORS.items():
            if err.startswith(key):
                code = "BLOCKED" if key == "ERR_BLOCKED_BY_CLIENT" else "UPSTREAM_UNAVAILABLE"
                return PageFailure(code, f"{url}: {meaning} ({err})")
        return PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {err}")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {first}")


async def navigate(
    page: Page, url: str, *, wait_until: WaitUntil = "load", timeout_ms: int = 30_000
) -> Response | None:
    """Navigate; returns the main document's response. Raises PageFailure with a code the caller can report.

    A plain-HTTP hop refused by the egress proxy arrives as its 403 page, marked with X-Browsa-Guard:
    that is a blocked navigation, not content.
    """
    try:
        response = await page.goto(url, wait_until=wait_until, timeout=timeout_ms)
    except (PlaywrightError, PlaywrightTimeout) as exc:
        raise classify_navigation_error(exc, url) from exc
    if response is None:
        return None
    # The headers the navigation event carried: reading the raw ones costs a round trip to the browser per page,
    # and the proxy's own marks are plain headers that are always among these.
    headers = response.headers
    rule = headers.get("x-browsa-guard")
    if rule:
        raise PageFailure("BLOCKED", f"{url} was blocked by the URL guard ({rule}) at {response.url}")
    if headers.get("x-browsa-upstream-error"):
        # The proxy's own answer when it could not reach the site: the site is down, not blocked.
        reason = (await response.text()).splitlines()[0].removeprefix("mcp-browsa URL guard: ")
        raise PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {reason}; check the URL and that the site is up")
    return response


async def load_page(page: Page, url: str, *, wait_until: WaitUntil = "load", timeout_ms: int = 30_000) -> int | None:
    """Navigate (see `navigate`); returns the HTTP status."""
    response = await navigate(page, url, wait_until=wait_until, timeout_ms=timeout_ms)
    return response.status if response is not None else None


def _trim(text: str, max_chars: int, unread: int = 0) -> tuple[str, bool]:
    """Cut `text` to max_chars; `unread` counts what stayed in the browser when only a prefix was read."""
    if len(text) <= max_chars and unread <= 0:
        return text, False
    more = max(0, len(text) - max_chars) + max(0, unread)
    return text[:max_chars] + f"\n… [truncated: {more} more characters]", True


async def page_content(
    page: Page,
    formats: list[str],
    *,
    max_chars: int = 50_000,
    full_page: bool = True,
    screenshot_path: Path | None = None,
    timeout: float = 30.0,
    main_content: bool = True,
) -> dict[str, Any]:
    """Collect the asked formats from a loaded page. Text formats are capped at max_chars each; markdown is the
    page's main content unless `main_content` is false.

    A page that navigates on its own while it is read (a script redirect, a form it submits once loaded) is
    read again once the next document has loaded. Raises PageFailure: TIMEOUT when the page keeps the browser
    too busy to answer within `timeout` seconds (a script spinning forever, endless dialogs),
    UPSTREAM_UNAVAILABLE when it never holds still long enough to be read.
    """
    try:
        with anyio.fail_after(timeout):
            for attempt in range(1, _READ_TRIES + 1):
                try:
                    return await _collect(page, formats, max_chars, full_page, screenshot_path, main_content)
                except PlaywrightError as exc:
                    if not _navigated_away(exc):
                        raise
                    if attempt == _READ_TRIES:
                        raise PageFailure(
                            "UPSTREAM_UNAVAILABLE",
                            f"{page.url}: the page kept navigating while it was read ({_READ_TRIES} tries); try"
                            " wait_until='networkidle', or the URL it ends up on",
                        ) from None
                try:
                    await page.wait_for_load_state("load")
                except PlaywrightError:
                    pass  # the next read says what state the page is in
            raise AssertionError("unreachable")
    except TimeoutError:
        raise PageFailure(
            "TIMEOUT", f"{page.url}: the page kept the browser busy; its content could not be read in {timeout:g} s"
        ) from None


def _navigated_away(exc: BaseException) -> bool:
    """Whether a Playwright error says the document went away under the call: it navigated, or its frame did."""
    first = str(exc).split("\n", 1)[0]
    return any(sign in first for sign in _NAVIGATED_AWAY)


async def _collect(
    page: Page, formats: list[str], max_chars: int, full_page: bool, screenshot_path: Path | None, main_content: bool
) -> dict[str, Any]:
    cap = max(_READ_MIN, max_chars * _READ_FACTOR)
    wanted = {"html": "html" in formats, "text": "text" in formats, "links": "links" in formats}
    read: dict[str, Any] = {}
    if any(wanted.values()) or "markdown" not in formats:
        read = await page.evaluate(_READ_JS, {"cap": cap, **wanted})
    out: dict[str, Any] = {"final_url": page.url, "title": str(read.get("title") or "")}
    truncated = False
    if "markdown" in formats:
        # Only what is returned leaves the page: the cap is the caller's, plus room for the marker to say so.
        made = await read_markdown(page, cap=max_chars + 1, main=main_content)
        out["title"] = out["title"] or str(made.get("title") or "")
        md = str(made["markdown"])
        out["markdown"], t = _trim(md, max_chars, int(made["total"]) - len(md))
        truncated |= t
    if "html" in formats:
        html, total = read["html"]
        out["html"], t = _trim(html, max_chars, total - len(html))
        truncated |= t
    if "text" in formats:
        raw, total = read["text"]
        out["text"], t = _trim(squeeze(raw), max_chars, total - len(raw))
        truncated |= t
    if "links" in formats:
        seen: set[str] = set()
        unique = [lk for lk in read["links"] if not (lk["url"] in seen or seen.add(lk["url"]))]  # type: ignore[func-returns-value]
        out["links"] = unique[:1000]
        if read.get("canonical"):
            out["canonical"] = str(read["canonical"])
    if "screenshot" in formats and screenshot_path is not None:
        await capture(page, screenshot_path, full_page=full_page, timeout_ms=30_000)
        out["screenshot"] = str(screenshot_path)
    out["truncated"] = truncated
    return out
