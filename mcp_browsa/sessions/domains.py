"""Where a session may go: bare domains made into URLs, and the default-deny allowlist taken from the first URL.

The default is the registrable domain of `initial_url` and its subdomains (docs.python.org → *.python.org), read
from the Public Suffix List bundled with tldextract, so foo.github.io never opens every *.github.io.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mcp_browsa.errors import BadRequest
from mcp_browsa.netpolicy import normalize_host
from mcp_browsa.validation import check_http_url

if TYPE_CHECKING:
    import tldextract

__all__ = ["default_allowed_domains", "session_url"]

_HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:(?!\d)")  # "host:8080/x" has none


@cache
def _extract() -> tldextract.TLDExtract:
    # Imported here: with `requests` under it, it is a fifth of a second of every cold start otherwise.
    import tldextract

    # The bundled snapshot only: no network fetch of the list, no cache written to disk.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def session_url(url: str, *, field: str = "url") -> str:
    """An absolute http(s) URL; a bare domain ("example.com/docs") gets https://."""
    text = url.strip()
    if text and not _HAS_SCHEME.match(text):
        text = "https://" + text.lstrip("/")
    return check_http_url(text, field=field)


def default_allowed_domains(initial_url: str | None) -> list[str]:
    """The allowlist a session gets without one: the registrable domain of `initial_url` and its subdomains."""
    if initial_url is None:
        raise BadRequest(
            'give allowed_domains (the hosts this session may reach; ["*"] for any) or an initial_url to take them from'
        )
    host = urlsplit(initial_url).hostname or ""
    try:
        canonical = normalize_host(host)
    except ValueError as exc:
        raise BadRequest(f"initial_url has an unusable host {host[:100]!r}: {exc}") from exc
    if not isinstance(canonical, str):
        return [str(canonical)]  # an IP address allows itself only
    registrable = _extract()(canonical).top_domain_under_public_suffix
    if not registrable:
        return [canonical]  # localhost, an intranet name: that host alone
    return [f"*.{registrable}"]
