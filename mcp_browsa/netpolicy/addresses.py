"""Forbidden address classes (SSRF) and the operator's exemptions from them (BROWSA_ALLOW_PRIVATE_NETWORK).

Pure: the egress proxy resolves names and asks here about each address it got.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from mcp_browsa.netpolicy.hosts import (
    IPAddress,
    IPNetwork,
    host_text,
    normalize_host,
    parse_port,
    parse_web_url,
    split_host_port,
)

__all__ = ["PrivateNetworkRule", "is_forbidden_address", "parse_endpoint_list"]

# --------------------------------------------------------------------------- forbidden addresses

_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), rule)
    for net, rule in (
        ("0.0.0.0/8", "unspecified"),  # "this network": Linux connects 0.0.0.0 to localhost
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "cgnat"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # cloud metadata lives at 169.254.169.254
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes the 255.255.255.255 broadcast
    )
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), rule)
    for net, rule in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "nat64"),
        ("100::/64", "reserved"),
        ("2001::/23", "reserved"),  # Teredo and IETF protocol assignments
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "ula"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPAT = ipaddress.IPv6Network("::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 an IPv6 address carries, with the class that wraps it (mapped, NAT64, compatible, 6to4)."""
    if ip in _MAPPED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "ipv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "nat64"
    if ip in _COMPAT and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "ipv4-compatible"
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF), "6to4"
    return None


def is_forbidden_address(ip: IPAddress) -> str | None:
    """The SSRF rule an address falls under ("loopback", "private", "link-local", …) or None when it is public.

    IPv6 forms that carry an IPv4 address are judged by that address first (`::ffff:127.0.0.1` is "loopback");
    IPv4-mapped, NAT64 and IPv4-compatible addresses are refused even when the IPv4 inside is public, since no
    public name legitimately resolves to them. 6to4 is allowed only when its IPv4 is public.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        for net4, rule in _V4_RULES:
            if ip in net4:
                return rule
        return None if ip.is_global else "reserved"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner, wrapper = embedded
        return is_forbidden_address(inner) or (None if wrapper == "6to4" else wrapper)
    for net6, rule in _V6_RULES:
        if ip in net6:
            return rule
    return None if ip.is_global else "reserved"


# --------------------------------------------------------------------------- operator exemptions


@dataclass(frozen=True)
class _Exemption:
    host: str | None = None  # a name, compared with the request's normalised host
    network: IPNetwork | None = None  # an address (/32, /128) or CIDR, compared with each resolved address
    port: int | None = None  # None = any port

    def matches(self, host: str | IPAddress, port: int, ip: IPAddress) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return host == self.host
        assert self.network is not None
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
            candidates.append(embedded[0])  # `127.0.0.1:3000` also exempts `[::ffff:127.0.0.1]:3000`
        return any(c.version == self.network.version and c in self.network for c in candidates)


@dataclass(frozen=True)
class PrivateNetworkRule:
    """The operator's BROWSA_ALLOW_PRIVATE_NETWORK switch: nothing, everything, or a list of exempted destinations."""

    allow_all: bool = False
    exemptions: tuple[_Exemption, ...] = field(default=())
    # Ports this process serves on (the live view, the HTTP transport): no exemption opens them to a browser, so a
    # page can never drive the live view of its own job, nor any other.
    own_ports: set[int] = field(default_factory=set, compare=False, hash=False)

    @classmethod
    def parse(cls, raw: str) -> PrivateNetworkRule:
        """ "" = deny all private; "1" = allow all; else a comma list of hosts, host:port, IPs, [v6]:port, CIDRs.

        A malformed entry raises ValueError: a typo in a security switch must be loud, not silently ignored.
        """
        text = raw.strip()
        if text.lower() in ("", "0", "false", "no", "off"):
            return cls()
        if text.lower() in ("1", "true", "yes", "on", "all", "*"):
            return cls(allow_all=True)
        return cls(exemptions=tuple(_parse_exemption(e.strip()) for e in text.split(",") if e.strip()))

    def exempts(self, host: str | IPAddress, port: int, ip: IPAddress) -> bool:
        """True when the operator allowed reaching `ip` (resolved from `host`) on `port` despite its class."""
        if port in self.own_ports:
            return False
        if self.allow_all:
            return True
        if isinstance(host, str):
            try:
                host = normalize_host(host)
            except ValueError:
                return False
        return any(e.matches(host, port, ip) for e in self.exemptions)


def _parse_exemption(entry: str) -> _Exemption:
    if "/" in entry:
        try:
            return _Exemption(network=ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError as exc:
            raise ValueError(f"BROWSA_ALLOW_PRIVATE_NETWORK: bad CIDR {entry!r}") from exc
    try:
        if entry.count(":") > 1 and not entry.startswith("["):
            host_part, port_text = entry, None  # a bare IPv6 address has no port
        else:
            host_part, port_text = split_host_port(entry)
        port = None if port_text is None else parse_port(port_text, 0)
        host = normalize_host(host_part)
    except ValueError as exc:
        raise ValueError(f"BROWSA_ALLOW_PRIVATE_NETWORK: bad entry {entry!r} ({exc})") from exc
    if isinstance(host, str):
        return _Exemption(host=host, port=port)
    return _Exemption(network=ipaddress.ip_network(host), port=port)


def parse_endpoint_list(raw: str) -> PrivateNetworkRule:
    """`BROWSA_LLM_ENDPOINTS`: a comma list of base URLs or host[:port]; ValueError names a bad entry.

    A URL contributes its host and port (the scheme's default when it names none). Read as the exemptions of
    `BROWSA_ALLOW_PRIVATE_NETWORK` are, so a name entry trusts whatever that name resolves to and an address
    entry matches that address in any spelling.
    """
    entries = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        if "://" in entry:
            try:
                scheme, host, port = parse_web_url(entry)
            except ValueError as exc:
                raise ValueError(f"BROWSA_LLM_ENDPOINTS: bad URL {entry!r} ({exc})") from exc
            if scheme not in ("http", "https"):
                raise ValueError(f"BROWSA_LLM_ENDPOINTS: {entry!r} is not an http(s) URL")
            entry = f"{host_text(host)}:{port}"
        entries.append(entry)
    if not entries:
        return PrivateNetworkRule()
    try:
        return PrivateNetworkRule.parse(",".join(entries))
    except ValueError as exc:
        raise ValueError(str(exc).replace("BROWSA_ALLOW_PRIVATE_NETWORK", "BROWSA_LLM_ENDPOINTS")) from exc
