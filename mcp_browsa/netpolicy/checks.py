"""Decisions of the network policy: what one browser context may reach, checked per URL, host, address and write.

No I/O here: the egress proxy in `browser/guard.py` resolves names and feeds the addresses back to `check_addresses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_browsa.netpolicy.addresses import PrivateNetworkRule, is_forbidden_address
from mcp_browsa.netpolicy.domains import domain_allowed, normalize_allowed_domains
from mcp_browsa.netpolicy.hosts import (
    SAFE_METHODS,
    SCHEME_RE,
    URL_STRIP,
    WEB_SCHEMES,
    IPAddress,
    host_text,
    parse_web_url,
)

__all__ = ["Decision", "Policy", "check_addresses", "check_host", "check_url", "check_websocket", "check_write"]


@dataclass(frozen=True)
class Decision:
    """Outcome of a check. `rule` names what refused ("scheme", "allowed_domains", "ssrf:loopback", "writes")."""

    allowed: bool
    rule: str = ""
    reason: str = ""


_ALLOW = Decision(True)


@dataclass(frozen=True)
class Policy:
    """What one browser context may reach. allowed_domains None = any host; patterns are validated on creation."""

    allowed_domains: tuple[str, ...] | None = None
    allow_writes: bool = True
    private: PrivateNetworkRule = field(default_factory=PrivateNetworkRule)

    def __post_init__(self) -> None:
        if self.allowed_domains is not None:
            object.__setattr__(self, "allowed_domains", normalize_allowed_domains(self.allowed_domains))


def check_addresses(host: str | IPAddress, port: int, addresses: Sequence[IPAddress], policy: Policy) -> Decision:
    """SSRF check of every address a host resolved to: one forbidden, unexempted address refuses the host."""
    if not addresses:
        return Decision(False, "dns", f"{host_text(host)} resolved to no address")
    for ip in addresses:
        rule = is_forbidden_address(ip)
        if rule is not None and not policy.private.exempts(host, port, ip):
            where = "is" if ip == host else f"resolves to {ip}, which is"
            return Decision(False, f"ssrf:{rule}", f"{host_text(host)} {where} a {rule} address")
    return _ALLOW


def check_host(host: str | IPAddress, port: int, policy: Policy) -> Decision:
    """Allowlist and, for IP literals, SSRF checks of a normalised host. Names still need `check_addresses`."""
    if not domain_allowed(host, policy.allowed_domains):
        return Decision(False, "allowed_domains", f"{host_text(host)} is not in allowed_domains")
    if not isinstance(host, str):
        return check_addresses(host, port, [host], policy)
    return _ALLOW


def check_write(policy: Policy, method: str, *, has_body: bool = False) -> Decision:
    """The `allow_writes` check of one HTTP request: a write is any method but GET/HEAD/OPTIONS, or any body at all.

    A body makes even OPTIONS a write: a server is free to act on it, and a CORS preflight never carries one.
    """
    verb = method.upper()
    if policy.allow_writes or (verb in SAFE_METHODS and not has_body):
        return _ALLOW
    what = f"{verb} with a body" if verb in SAFE_METHODS else verb
    return Decision(False, "writes", f"{what} is a write and allow_writes is off")


def check_websocket(url: str, policy: Policy) -> Decision:
    """A WebSocket to `url` (ws: or wss:): its host as for a request, then allow_writes, which must be on for any
    socket at all, since once open it carries whatever the page sends."""
    scheme, colon, rest = url.strip(URL_STRIP).partition(":")
    web = {"ws": "http", "wss": "https"}.get(scheme.lower()) if colon else None
    if web is None:
        return Decision(False, "scheme", f"scheme {scheme.lower() + ':' if colon else '(none)'} is not ws or wss")
    decision = check_url(f"{web}:{rest}", policy)
    if not decision.allowed or policy.allow_writes:
        return decision
    return Decision(False, "writes", "a WebSocket can send anything once open, and allow_writes is off")


def check_url(url: str, policy: Policy, *, method: str = "GET", has_body: bool = False) -> Decision:
    """Scheme, allowlist, literal-IP SSRF and write checks for one request or navigation; no DNS lookups."""
    match = SCHEME_RE.match(url.strip(URL_STRIP))
    scheme = match.group(1).lower() if match else ""
    if scheme not in WEB_SCHEMES:
        return Decision(False, "scheme", f"scheme {scheme + ':' if scheme else '(none)'} is not http or https")
    try:
        _, host, port = parse_web_url(url)
    except ValueError as exc:
        return Decision(False, "url", f"invalid URL: {exc}")
    decision = check_host(host, port, policy)
    if not decision.allowed:
        return decision
    return check_write(policy, method, has_body=has_body)
