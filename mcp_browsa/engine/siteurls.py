"""A site's URLs for crawl and map: one spelling per URL, the caller's filters, robots.txt rules and sitemaps.

Pure functions; fetching is the runner's (through a burner, so the URL guard sees every request).
"""

from __future__ import annotations

import fnmatch
import html
import re
import urllib.robotparser
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ROBOTS_AGENT", "Robots", "UrlFilter", "normalize_url", "site_key", "sitemap_locations"]

ROBOTS_AGENT = "mcp-browsa"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOC = re.compile(r"<loc>\s*(.*?)\s*</loc>", re.I | re.S)
# Not pages: following them would fetch files a reader of the site's text has no use for.
_NOT_PAGES = re.compile(
    r"\.(?:png|jpe?g|gif|webp|svg|ico|bmp|tiff?|mp[34]|m4a|wav|ogg|webm|avi|mov|zip|gz|tgz|bz2|xz|7z|rar|tar|exe|"
    r"dmg|iso|apk|woff2?|ttf|otf|eot|css|js|mjs|map|json|xml|rss|atom)$",
    re.I,
)


def normalize_url(url: str) -> str | None:
    """The one spelling of a web URL (lower-case scheme and host, no default port, no fragment); None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def site_key(url: str) -> str:
    """The host a URL belongs to for same_site, with a leading `www.` ignored."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


@dataclass(frozen=True)
class UrlFilter:
    """Which discovered URLs a crawl or map keeps: same site, include/exclude globs, no files that are not pages.

    A glob with `://` is matched against the whole URL, otherwise against the path and query (`/docs/*`).
    """

    start: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    same_site: bool = True

    def _matches(self, url: str, globs: Sequence[str]) -> bool:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return any(fnmatch.fnmatchcase(url if "://" in g else path, g) for g in globs)

    def keeps(self, url: str) -> bool:
        if self.same_site and site_key(url) != site_key(self.start):
            return False
        if _NOT_PAGES.search(urlsplit(url).path):
            return False
        if self.include and not self._matches(url, self.include):
            return False
        return not self._matches(url, self.exclude)


class Robots:
    """robots.txt rules for our agent name (falling back to `*`), its Crawl-delay and the sitemaps it names."""

    def __init__(self, text: str | None) -> None:
        self._parser: urllib.robotparser.RobotFileParser | None = None
        self.sitemaps: list[str] = []
        if text:
            parser = urllib.robotparser.RobotFileParser()
            parser.parse(text.splitlines())
            self._parser = parser
            self.sitemaps = list(parser.site_maps() or [])

    def allows(self, url: str) -> bool:
        return self._parser is None or self._parser.can_fetch(ROBOTS_AGENT, url)

    @property
    def delay(self) -> float | None:
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay is not None else None


def sitemap_locations(xml: str) -> tuple[list[str], bool]:
    """The `<loc>` URLs of a sitemap, and whether it is a sitemap index (its locations are more sitemaps)."""
    index = bool(re.search(r"<sitemapindex\b", xml[:2000], re.I))
    return [html.unescape(m) for m in _LOC.findall(xml)], index


def unique(urls: Iterable[str | None]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for url in urls:
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out
