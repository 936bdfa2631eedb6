"""What BROWSA_BROWSER_WS and BROWSA_EGRESS_LISTEN say: remote browser endpoints, and where the egress proxy listens.

Pure parsing, read once at start-up so a typo stops the process with a message naming the bad entry.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["BrowserEndpoint", "check_remote_settings", "parse_browser_endpoints", "parse_listen"]

# Entries are split at a comma that starts another URL, not at every comma: a Playwright server's
# `?launch-options={…}` is JSON and has commas of its own.
_NEXT_ENTRY = re.compile(r",\s*(?=(?:wss?|https?)://)", re.IGNORECASE)
_LAUNCH_OPTIONS = "launch-options"


@dataclass(frozen=True)
class BrowserEndpoint:
    """One remote browser: a Playwright server (`playwright run-server`) or a Chromium's DevTools endpoint."""

    url: str  # what Playwright connects to (a Playwright server's launch options taken out of its query)
    kind: Literal["playwright", "cdp"]
    # Launch options the operator put in a Playwright server's URL (`?launch-options={"executablePath": …}`);
    # the server takes them only when started with --unsafe.
    launch_options: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The endpoint without credentials or query, for logs and `doctor`."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


def _endpoint(entry: str) -> BrowserEndpoint:
    parts = urlsplit(entry)
    scheme = parts.scheme.lower()
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"BROWSA_BROWSER_WS: bad port in {entry!r} ({exc})") from None
    if scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise ValueError(
            f"BROWSA_BROWSER_WS: {entry!r} is not a ws(s):// Playwright server or an http(s):// or"
            " ws(s)://…/devtools/browser/… CDP endpoint"
        )
    if scheme in ("http", "https") or "/devtools/" in parts.path:
        return BrowserEndpoint(entry, "cdp")
    query = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, Any] = {}
    for key, value in query:
        if key == _LAUNCH_OPTIONS:
            try:
                options = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"BROWSA_BROWSER_WS: launch-options of {entry!r} is not JSON ({exc})") from None
            if not isinstance(options, dict):
                raise ValueError(f"BROWSA_BROWSER_WS: launch-options of {entry!r} must be a JSON object")
    rest = urlencode([(k, v) for k, v in query if k != _LAUNCH_OPTIONS])
    return BrowserEndpoint(urlunsplit(parts._replace(query=rest)), "playwright", options)


def parse_browser_endpoints(raw: str | None) -> tuple[BrowserEndpoint, ...]:
    """BROWSA_BROWSER_WS: a comma list of endpoints, used in turn; ValueError names a bad entry."""
    if not raw or not raw.strip():
        return ()
    entries = [e.strip() for e in _NEXT_ENTRY.split(raw.strip())]
    if any(not e for e in entries):
        raise ValueError("BROWSA_BROWSER_WS: an empty entry in the list")
    endpoints = tuple(_endpoint(e) for e in entries)
    if len({e.url for e in endpoints}) != len(endpoints):
        raise ValueError("BROWSA_BROWSER_WS: an endpoint is listed twice")
    return endpoints


def parse_listen(raw: str) -> tuple[str, int]:
    """BROWSA_EGRESS_LISTEN `host:port` (`[v6]:port`): one interface, named as the remote browsers reach it.

    A wildcard is refused: the proxy would answer on every interface of the machine, and the browsers would be told
    an address nobody can connect to.
    """
    text = raw.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"BROWSA_EGRESS_LISTEN must be host:port (a port from 1 to 65535); got {raw!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"BROWSA_EGRESS_LISTEN: write an IPv6 address in brackets, [{host}]:{port_text}")
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = host == "*"
    if wildcard:
        raise ValueError(
            f"BROWSA_EGRESS_LISTEN: {host!r} would listen on every interface; name the one address (or host name)"
            " the remote browsers reach this machine at"
        )
    return host, int(port_text)


def check_remote_settings(browser_ws: str | None, egress_listen: str | None) -> None:
    """Refuse settings that cannot work together; ValueError says what to change."""
    endpoints = parse_browser_endpoints(browser_ws)
    if egress_listen is None:
        return
    parse_listen(egress_listen)
    if not endpoints:
        # Local browsers reach the proxy on loopback; an address of its own would only expose it for nothing.
        raise ValueError(
            "BROWSA_EGRESS_LISTEN is for remote browsers: set BROWSA_BROWSER_WS too, or unset it (local browsers"
            " reach the egress proxy on loopback)"
        )
