"""Checks on caller input that every entry point shares (MCP tools, CLI): URLs and sizes.

Messages say what to fix; the URL guard still re-checks every request the browser makes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from mcp_browsa.errors import BadRequest

__all__ = ["MAX_URL_LENGTH", "check_http_url", "refuse_undeclared"]

MAX_URL_LENGTH = 4096
# "example.com", "www.example.com/page?q=1", "localhost:8080/x", "10.0.0.5": a host with no scheme, which people type
# as often as a full URL. A name needs a dot and a letters-only last label; a path ("/docs") or words stay relative.
_BARE_HOST = re.compile(
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|localhost|\d{1,3}(?:\.\d{1,3}){3})"
    r"(?::\d{1,5})?(?:[/?#]\S*)?",
    re.IGNORECASE,
)


def check_http_url(url: str, *, field: str = "url") -> str:
    """An absolute http(s) URL with a host, or BadRequest naming what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{field} is empty; give an absolute URL like https://example.com/page")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"{field} is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise BadRequest(f"{field} contains control characters")
    bare = _BARE_HOST.fullmatch(url)
    if bare is not None:
        # Plain hosts get https, as a browser's address bar would; a machine named by address or localhost gets http,
        # since local servers rarely have a certificate.
        local = bare["host"].lower() == "localhost" or bare["host"][0].isdigit()
        url = ("http://" if local else "https://") + url
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


def refuse_undeclared(tool: str, arguments: Mapping[str, Any], declared: Collection[str]) -> None:
    """BadRequest naming every argument `tool` does not declare, with the closest declared name for each.

    Called before a tool runs: an ignored typo can change what a call does (`session_only` on destroy_identity
    would destroy the identity), so a call with one does nothing at all.
    """
    unknown = [name for name in arguments if name not in declared]
    if not unknown:
        return
    parts = []
    for name in unknown[:10]:
        close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.5)
        parts.append(f"{name[:80]!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    valid = ", ".join(sorted(declared)) or "none"
    raise BadRequest(
        f"{tool} does not take {', '.join(parts)}{more}; nothing was done. Its arguments are: {valid}",
        unknown_arguments=unknown[:10],
    )
