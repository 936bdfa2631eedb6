"""Read-only page work with no LLM: load a URL in a burner and return its content in the asked formats.

Used by the scrape, extract and screenshot jobs and by URL batch rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from markdownify import markdownify
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

__all__ = ["FORMATS", "PageFailure", "WaitUntil", "load_page", "page_content"]

FORMATS = ("html", "text", "links", "markdown", "screenshot")
WaitUntil = Literal["load", "domcontentloaded", "networkidle", "commit"]

_LINKS_JS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => ({
  url: a.href, text: (a.innerText || a.getAttribute('aria-label') || '').trim().replace(/\\s+/g, ' ').slice(0, 200)
})).filter(l => /^https?:/.test(l.url))"""

# Content that is never part of the readable text: scripts, styles and page chrome. Links are made
# absolute (`a.href` resolves against the page's base URL) so a reader of the markdown can follow them.
_CLEAN_JS = """() => {
  const root = document.body ? document.body.cloneNode(true) : document.documentElement.cloneNode(true);
  root.querySelectorAll('script,style,noscript,template,svg,iframe,nav,footer,header,aside,[hidden],[aria-hidden=true]')
      .forEach(n => n.remove());
  root.querySelectorAll('a[href]').forEach(a => a.setAttribute('href', a.href));
  return root.innerHTML;
}"""


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
    "ERR_TUNNEL_CONNECTION_FAILED": "the URL guard refused the connection",
    "ERR_BLOCKED_BY_CLIENT": "the URL guard refused the request",
    "ERR_ABORTED": "the navigation was aborted",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
    "ERR_UNSAFE_PORT": "browsers refuse this port (it belongs to another protocol); use the site's web port",
}


def classify_navigation_error(exc: BaseException, url: str) -> PageFailure:
    text = str(exc)
    if isinstance(exc, PlaywrightTimeout) or "Timeout" in text.split("\n", 1)[0]:
        return PageFailure("TIMEOUT", f"{url} did not finish loading in time; try wait_until='domcontentloaded'")
    m = re.search(r"net::(ERR_[A-Z_]+)", text)
    if m:
        err = m.group(1)
        for key, meaning in _NET_ERRORS.items():
            if err.startswith(key):
                code = (
                    "BLOCKED"
                    if key in ("ERR_TUNNEL_CONNECTION_FAILED", "ERR_BLOCKED_BY_CLIENT")
                    else ("UPSTREAM_UNAVAILABLE")
                )
                return PageFailure(code, f"{url}: {meaning} ({err})")
        return PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {err}")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PageFailure("UPSTREAM_UNAVAILABLE", f"{url}: {first}")


async def load_page(page: Page, url: str, *, wait_until: WaitUntil = "load", timeout_ms: int = 30_000) -> int | None:
    """Navigate; returns the HTTP status. Raises PageFailure with a code the caller can report.

    A plain-HTTP hop refused by the egress proxy arrives as its 403 page, marked with X-Browsa-Guard:
    that is a blocked navigation, not content.
    """
    try:
        response = await page.goto(url, wait_until=wait_until, timeout=timeout_ms)
    except (PlaywrightError, PlaywrightTimeout) as exc:
        raise classify_navigation_error(exc, url) from exc
    if response is None:
        return None
    rule = await response.header_value("x-browsa-guard")
    if rule:
        raise PageFailure("BLOCKED", f"{url} was blocked by the URL guard ({rule}) at {response.url}")
    return response.status


def _trim(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars] + f"\n… [truncated: {len(text) - max_chars} more characters]", True


async def page_content(
    page: Page,
    formats: list[str],
    *,
    max_chars: int = 50_000,
    full_page: bool = True,
    screenshot_path: Path | None = None,
) -> dict[str, Any]:
    """Collect the asked formats from a loaded page. Text formats are capped at max_chars each."""
    out: dict[str, Any] = {"final_url": page.url, "title": await page.title()}
    truncated = False
    if "html" in formats:
        out["html"], t = _trim(await page.content(), max_chars)
        truncated |= t
    if "text" in formats:
        raw = await page.evaluate("() => document.body ? document.body.innerText : ''")
        out["text"], t = _trim(_squeeze(str(raw)), max_chars)
        truncated |= t
    if "markdown" in formats:
        cleaned = await page.evaluate(_CLEAN_JS)
        md = markdownify(str(cleaned), heading_style="ATX", strip=["img"])
        out["markdown"], t = _trim(_squeeze(md), max_chars)
        truncated |= t
    if "links" in formats:
        links = await page.evaluate(_LINKS_JS)
        seen: set[str] = set()
        unique = [lk for lk in links if not (lk["url"] in seen or seen.add(lk["url"]))]  # type: ignore[func-returns-value]
        out["links"] = unique[:1000]
    if "screenshot" in formats and screenshot_path is not None:
        screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(screenshot_path), full_page=full_page, timeout=30_000)
        out["screenshot"] = str(screenshot_path)
    out["truncated"] = truncated
    return out


def _squeeze(text: str) -> str:
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r"\n\s*\n\s*\n+", "\n\n", text)
    return text.strip()
