"""Pure network policy for the URL guard: host normalisation, forbidden address classes, allowlists, URL checks.

No I/O here: the egress proxy in `browser/guard.py` resolves names and feeds the addresses back to `check_addresses`.
`hosts` reads hosts and URLs, `addresses` owns the SSRF classes and their exemptions, `domains` the allowlist,
`checks` the decisions built from them.
"""

from mcp_browsa.netpolicy.addresses import PrivateNetworkRule, is_forbidden_address, parse_endpoint_list
from mcp_browsa.netpolicy.checks import (
    Decision,
    Policy,
    check_addresses,
    check_host,
    check_url,
    check_websocket,
    check_write,
)
from mcp_browsa.netpolicy.domains import domain_allowed, intersect_allowed_domains, normalize_allowed_domains
from mcp_browsa.netpolicy.hosts import (
    SAFE_METHODS,
    WEB_SCHEMES,
    IPAddress,
    host_text,
    normalize_host,
    parse_web_url,
    split_host_port,
)

__all__ = [
    "SAFE_METHODS",
    "WEB_SCHEMES",
    "Decision",
    "IPAddress",
    "Policy",
    "PrivateNetworkRule",
    "check_addresses",
    "check_host",
    "check_url",
    "check_websocket",
    "check_write",
    "domain_allowed",
    "host_text",
    "intersect_allowed_domains",
    "is_forbidden_address",
    "normalize_allowed_domains",
    "normalize_host",
    "parse_endpoint_list",
    "parse_web_url",
    "split_host_port",
]
