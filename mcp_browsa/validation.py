"""Checks on caller input that every entry point shares (MCP tools, CLI): URLs and sizes.

Messages say what to fix; the URL guard still re-checks every request the browser makes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp_browsa.errors import BadRequest

__all__ = ["MAX_URL_LENGTH", "check_http_url"]

MAX_URL_LENGTH = 4096


def check_http_url(url: str, *, field: str = "url") -> str:
    """An absolute http(s) URL with a host, or BadRequest naming what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{field} is empty; give an absolute URL like https://example.com/page")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"{field} is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise BadRequest(f"{field} contains control characters")
    try:
        parts = urlsplit(url)  # raises on a broken IPv6 literal ("http://[::1")
    except ValueError as exc:
        raise BadRequest(f"{field} {url[:200]!r} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise BadRequest(f"{field} {url[:200]!r} is relative; give an absolute URL like https://example.com/page")
    if scheme not in ("http", "https"):
        raise BadRequest(f"{field} uses the {scheme}: scheme; only http and https URLs can be opened")
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise BadRequest(f"{field} {url[:200]!r} is not a valid URL: {exc}") from exc
    if not host:
        raise BadRequest(f"{field} {url[:200]!r} has no host name")
    return url
