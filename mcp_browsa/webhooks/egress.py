"""Where a webhook may be delivered: the browser's SSRF rules applied to delivery targets, with address pinning.

The host is resolved here, every address is checked against the URL guard's policy (BROWSA_ALLOW_PRIVATE_NETWORK
exemptions included), and the request then connects to the address that was checked, so a name cannot be
re-pointed at a private address between the check and the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import anyio

from mcp_browsa.browser.netpolicy import (
    IPAddress,
    Policy,
    PrivateNetworkRule,
    check_addresses,
    check_url,
    host_text,
    parse_web_url,
)
from mcp_browsa.browser.private_hint import private_network_hint

__all__ = ["Blocked", "EgressRule", "Resolver", "Target", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


class Blocked(Exception):
    """The target may not be contacted; the message says which rule refused it."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    return list(seen)


@dataclass(frozen=True)
class Target:
    """A checked delivery target: the URL to connect to (host replaced by the checked address) and what to send
    as Host and TLS server name so the endpoint still sees its own name."""

    connect_url: str
    host_header: str
    sni_hostname: str | None
    username: str | None
    password: str | None


class EgressRule:
    """The SSRF part of the URL guard for outgoing webhook requests (no allowlist: the operator chose the URL)."""

    def __init__(self, private_network: str, resolver: Resolver = system_resolver) -> None:
        self.policy = Policy(private=PrivateNetworkRule.parse(private_network))
        self.resolver = resolver

    def check_static(self, url: str) -> None:
        """Scheme and literal-address checks, no DNS: what can be refused when a webhook is created."""
        decision = check_url(url, self.policy, method="POST")
        if not decision.allowed:
            raise Blocked(decision.reason + private_network_hint(decision.rule, url))

    async def resolve(self, url: str) -> Target:
        """Resolve and check every address of the URL's host; the first address is the one to connect to."""
        self.check_static(url)
        _scheme, host, port = parse_web_url(url)
        parts = urlsplit(url)
        if isinstance(host, str):
            try:
                addresses = list(await self.resolver(host, port))
            except OSError as exc:
                raise Blocked(f"cannot resolve {host}: {exc}") from exc
        else:
            addresses = [host]
        decision = check_addresses(host, port, addresses, self.policy)
        if not decision.allowed:
            raise Blocked(decision.reason + private_network_hint(decision.rule, url))
        pinned = host_text(addresses[0])
        default_port = 443 if parts.scheme.lower() == "https" else 80
        netloc = pinned if port == default_port else f"{pinned}:{port}"
        host_header = host_text(host) if port == default_port else f"{host_text(host)}:{port}"
        return Target(
            connect_url=urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, "")),
            host_header=host_header,
            sni_hostname=host if isinstance(host, str) and parts.scheme.lower() == "https" else None,
            username=parts.username,
            password=parts.password,
        )
