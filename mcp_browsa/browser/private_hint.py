"""How the operator lets the browser reach a private address the URL guard refused, said with the real host:port.

A new user's first scrape is often their own dev server on 127.0.0.1: the refusal must say the exact setting.
"""

from __future__ import annotations

import ipaddress
import socket

from mcp_browsa.browser import netpolicy

__all__ = ["ALLOW_VARIABLE", "allow_entry", "private_network_hint", "private_network_status", "url_verdict"]

ALLOW_VARIABLE = "BROWSA_ALLOW_PRIVATE_NETWORK"


def allow_entry(target: str) -> str | None:
    """The `host:port` entry that exempts `target` (a URL, or `host:port` as a CONNECT names it); None if unreadable."""
    if "://" in target:
        try:
            _scheme, host, port = netpolicy.parse_web_url(target)
        except ValueError:
            return None
        return f"{netpolicy.host_text(host)}:{port}"
    try:
        host_part, port_text = netpolicy.split_host_port(target)
    except ValueError:
        return None
    if not host_part or port_text is None or not port_text.isdigit():
        return None
    return f"{host_part}:{int(port_text)}"


def private_network_hint(rule: str, target: str) -> str:
    """`; to allow it, set BROWSA_ALLOW_PRIVATE_NETWORK=host:port …` after an SSRF refusal; "" for any other rule."""
    if not rule.startswith("ssrf:"):
        return ""
    entry = allow_entry(target)
    if entry is None:
        return f"; the operator can allow private addresses with {ALLOW_VARIABLE} (a list such as 127.0.0.1:3000)"
    return (
        f"; to let the browser reach it, start the server with {ALLOW_VARIABLE}={entry}"
        " (a comma list of host:port, hosts or CIDRs; 1 allows every private address)"
    )


def private_network_status(setting: str) -> str:
    """What `doctor` says of BROWSA_ALLOW_PRIVATE_NETWORK: the setting, or how to allow a server on this machine."""
    if setting.strip():
        return setting.strip()
    return (
        f"blocked — to let the browser reach a server on this machine, start mcp-browsa with"
        f" {ALLOW_VARIABLE}=127.0.0.1:PORT (that server's port)"
    )


def url_verdict(setting: str, url: str) -> str:
    """Whether the browser may reach `url` under BROWSA_ALLOW_PRIVATE_NETWORK=`setting`, resolving its host here."""
    policy = netpolicy.Policy(private=netpolicy.PrivateNetworkRule.parse(setting))
    decision = netpolicy.check_url(url, policy)
    if decision.allowed:
        _scheme, host, port = netpolicy.parse_web_url(url)
        if isinstance(host, str):
            try:
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                return f"cannot resolve {host}: {exc}"
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
            decision = netpolicy.check_addresses(host, port, addresses, policy)
    if decision.allowed:
        return f"{url} is allowed"
    return f"{url} is blocked ({decision.rule}): {decision.reason}{private_network_hint(decision.rule, url)}"
