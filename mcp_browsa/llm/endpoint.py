"""Which model servers a caller may name in `llm="provider:model@base_url"`: the browser's address rules, applied
to the server that will receive the API key and the task.

A caller over HTTP is someone holding an API key, not the operator: the base URL they name passes the same
private-network check as a page the browser loads (`browser/netpolicy.py`), so a shared server cannot be made to
POST to services on its own network. Over stdio the caller is the local user, who can reach their own network
anyway: only link-local addresses (cloud metadata at 169.254.169.254) stay off limits there. Lifted by the
operator's `BROWSA_ALLOW_PRIVATE_NETWORK` and `BROWSA_LLM_ENDPOINTS`; the server's own `BROWSA_LLM` is trusted.

The check runs twice: at the tool call (so a refusal comes before any job exists), and again inside the HTTP
client on every connection, against the very addresses it then connects to (`pinning.py`), so a name that
re-resolves to a private address between the two cannot slip through.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from mcp_browsa.browser.netpolicy import (
    IPAddress,
    PrivateNetworkRule,
    host_text,
    is_forbidden_address,
    normalize_host,
    parse_web_url,
)
from mcp_browsa.llm.spec import LLMSpec, parse_llm_spec

__all__ = ["EndpointGuard", "EndpointPolicy", "EndpointRefused", "parse_endpoint_list", "resolve"]

# Over stdio only these stay refused: nothing on a local user's machine legitimately serves a model there.
_LOCAL_REFUSED = frozenset({"link-local"})


class EndpointRefused(Exception):
    """A model server address the policy refuses; `rule` is "ssrf:<class>" as the browser guard names it."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


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


@dataclass(frozen=True)
class EndpointGuard:
    """The address check for one caller's model server: `check` raises EndpointRefused for a forbidden address."""

    private: PrivateNetworkRule
    listed: PrivateNetworkRule
    local: bool  # the caller is the local user (stdio), not an API key holder (HTTP)

    def check(self, host: str | IPAddress, port: int, addresses: Sequence[IPAddress]) -> None:
        if not addresses:
            raise EndpointRefused("dns", f"{host_text(host)} resolved to no address")
        for ip in addresses:
            rule = is_forbidden_address(ip)
            if rule is None or self.private.exempts(host, port, ip) or self.listed.exempts(host, port, ip):
                continue
            if self.local and rule not in _LOCAL_REFUSED:
                continue
            where = "is" if ip == host else f"resolves to {ip}, which is"
            lift = "" if self.local else "; the operator can list it in BROWSA_LLM_ENDPOINTS"
            raise EndpointRefused(
                f"ssrf:{rule}", f"the model server {host_text(host)}:{port} {where} a {rule} address{lift}"
            )


@dataclass(frozen=True)
class EndpointPolicy:
    """The operator's side: what they allowed, and the endpoint they configured themselves."""

    private: PrivateNetworkRule = field(default_factory=PrivateNetworkRule)
    listed: PrivateNetworkRule = field(default_factory=PrivateNetworkRule)
    trusted: frozenset[str] = frozenset()  # base URLs of the operator's own BROWSA_LLM

    @classmethod
    def from_settings(cls, allow_private_network: str, llm_endpoints: str, default_llm: str | None) -> EndpointPolicy:
        trusted: set[str] = set()
        if default_llm:
            try:
                base = parse_llm_spec(default_llm).base_url
            except ValueError:
                base = None
            if base:
                trusted.add(_canonical(base))
        return cls(
            PrivateNetworkRule.parse(allow_private_network), parse_endpoint_list(llm_endpoints), frozenset(trusted)
        )

    def guard_for(self, spec: LLMSpec, *, local: bool) -> EndpointGuard | None:
        """The check a model call for `spec` must pass, or None when its server is the vendor's or the operator's."""
        if spec.base_url is None or _canonical(spec.base_url) in self.trusted:
            return None
        return EndpointGuard(self.private, self.listed, local)

    async def precheck(self, spec: LLMSpec, *, local: bool) -> None:
        """Refuse a forbidden model server now, before any job exists. A name that does not resolve passes here:
        the connection-time check refuses it then, and a failure to resolve is the job's LLM_ERROR."""
        guard = self.guard_for(spec, local=local)
        if guard is None or spec.base_url is None:
            return
        _scheme, host, port = parse_web_url(spec.base_url)
        try:
            addresses = await resolve(host, port)
        except OSError:
            return
        guard.check(host, port, addresses)


async def resolve(host: str | IPAddress, port: int) -> list[IPAddress]:
    """The addresses a TCP connection to `host` may use, in the resolver's order; OSError when it has none."""
    if not isinstance(host, str):
        return [host]
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = normalize_host(str(sockaddr[0]).split("%", 1)[0])
        if not isinstance(ip, str) and ip not in found:
            found.append(ip)
    return found


def _canonical(base_url: str) -> str:
    """A base URL compared by meaning: scheme and host as browsers read them, default port dropped, no trailing /."""
    try:
        scheme, host, port = parse_web_url(base_url)
    except ValueError:
        return base_url.rstrip("/")
    path = urllib.parse.urlsplit(base_url).path.rstrip("/")
    return f"{scheme}://{host_text(host)}:{port}{path}"
