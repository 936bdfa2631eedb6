"""Pure network policy for the URL guard: host normalisation, forbidden address classes, allowlists, URL checks.

No I/O here: the egress proxy in `browser/guard.py` resolves names and feeds the addresses back to `check_addresses`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Union

import idna

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

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]  # noqa: UP007 - runtime alias on 3.10
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]  # noqa: UP007

WEB_SCHEMES = frozenset({"http", "https"})
# Methods that change nothing when they carry no body. OPTIONS is here for CORS preflights, which never have one.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# WHATWG "forbidden domain code points" (after percent-decoding and IDNA mapping).
_FORBIDDEN_HOST_CHARS = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f") | frozenset(chr(c) for c in range(0x20))


# --------------------------------------------------------------------------- host normalisation


def _ipv4_number(part: str) -> int:
    radix = 10
    if len(part) >= 2 and part[:2] in ("0x", "0X"):
        radix, part = 16, part[2:]
    elif len(part) >= 2 and part[0] == "0":
        radix, part = 8, part[1:]
    if part == "":
        return 0  # WHATWG: "0x" and "0" prefixes with nothing after mean zero
    digits = {10: "0123456789", 8: "01234567", 16: "0123456789abcdefABCDEF"}[radix]
    if any(c not in digits for c in part):
        raise ValueError(f"invalid IPv4 number {part!r}")
    return int(part, radix)


def _ends_in_number(labels: list[str]) -> bool:
    last = labels[-1]
    if last.isascii() and last.isdigit():
        return True
    try:
        _ipv4_number(last)
    except ValueError:
        return False
    return last != ""


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """WHATWG IPv4 parser: None when the host is a domain, ValueError when it ends in a number but is no IPv4."""
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _ends_in_number(labels):
        return None
    if len(labels) > 4 or "" in labels:
        raise ValueError(f"invalid IPv4 address {host!r}")
    numbers = [_ipv4_number(label) for label in labels]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError(f"IPv4 address out of range {host!r}")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(value)


def _domain_to_ascii(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise ValueError(f"invalid international domain {host!r}") from exc
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNABidiError, idna.InvalidCodepointContext) as exc:
            raise ValueError(f"invalid international domain {host!r}") from exc  # browsers refuse these too
        except idna.IDNAError:
            # UTS #46 admits code points IDNA2008 disallows (☃.net is a real name), and browsers follow UTS #46.
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


@lru_cache(maxsize=4096)
def normalize_host(host: str) -> str | IPAddress:
    """Canonical host as a browser's URL parser sees it: an IP address object, or a lowercase ASCII domain.

    Literal IPv4 in any WHATWG encoding (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) becomes an IPv4Address;
    `[…]` or bare IPv6 becomes an IPv6Address; names are percent-decoded, IDNA-mapped to Punycode, lowercased and
    lose one trailing dot. ValueError when a browser would reject the host.
    """
    if host.startswith("[") or (":" in host and not host.endswith("]")):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if host.startswith("[") != host.endswith("]") or "%" in inner:
            raise ValueError(f"invalid IPv6 host {host!r}")  # zone ids are not valid in URLs
        try:
            return ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise ValueError(f"invalid IPv6 host {host!r}") from exc
    try:
        decoded = urllib.parse.unquote_to_bytes(host).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid host encoding {host!r}") from exc
    ascii_host = _domain_to_ascii(decoded)
    if not ascii_host or any(c in _FORBIDDEN_HOST_CHARS for c in ascii_host):
        raise ValueError(f"invalid host {host!r}")
    ipv4 = _parse_ipv4(ascii_host)
    if ipv4 is not None:
        return ipv4
    name = ascii_host[:-1] if ascii_host.endswith(".") else ascii_host
    if not name:
        raise ValueError(f"invalid host {host!r}")
    return name  # empty inner labels ("a..b") are kept, as browsers keep them; such names never resolve


def host_text(host: str | IPAddress) -> str:
    """A normalised host as it appears in a URL authority (IPv6 in brackets)."""
    if isinstance(host, ipaddress.IPv6Address):
        return f"[{host}]"
    return str(host)


def split_host_port(authority: str) -> tuple[str, str | None]:
    """`host[:port]` → (host, port text or None); IPv6 stays bracketed. ValueError when malformed."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise ValueError(f"unclosed IPv6 bracket in {authority!r}")
        rest = authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"junk after IPv6 address in {authority!r}")
        return authority[: end + 1], (rest[1:] if rest else None)
    host, sep, port = authority.partition(":")
    return host, (port if sep else None)


def _parse_port(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise ValueError(f"invalid port {text!r}")
    return int(text)


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
        port = None if port_text is None else _parse_port(port_text, 0)
        host = normalize_host(host_part)
    except ValueError as exc:
        raise ValueError(f"BROWSA_ALLOW_PRIVATE_NETWORK: bad entry {entry!r} ({exc})") from exc
    if isinstance(host, str):
        return _Exemption(host=host, port=port)
    return _Exemption(network=ipaddress.ip_network(host), port=port)


# --------------------------------------------------------------------------- allowlist


def _normalize_pattern(pattern: str) -> str:
    text = pattern.strip()
    if "://" in text:  # forgive "https://example.com/path": the user meant the host
        text = urllib.parse.urlsplit(text).netloc.rpartition("@")[2]
        text = split_host_port(text)[0]
    if text == "*":
        return text
    wildcard = text.startswith("*.")
    body = text[2:] if wildcard else text
    if "*" in body:
        raise ValueError(f"allowed_domains: {pattern!r}: only a leading '*.' wildcard or '*' alone is supported")
    host = normalize_host(body)
    if wildcard and not isinstance(host, str):
        raise ValueError(f"allowed_domains: {pattern!r}: a wildcard cannot apply to an IP address")
    return ("*." if wildcard else "") + host_text(host)


def normalize_allowed_domains(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validated canonical patterns; ValueError names the first bad one."""
    return tuple(_normalize_pattern(p) for p in patterns)


@lru_cache(maxsize=1024)
def _compiled(patterns: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...], bool]:
    exact, suffixes, any_host = set(), [], False
    for raw in patterns:
        try:
            p = _normalize_pattern(raw)
        except ValueError:
            continue  # an unusable pattern allows nothing
        if p == "*":
            any_host = True
        elif p.startswith("*."):
            exact.add(p[2:])
            suffixes.append(p[1:])
        else:
            exact.add(p)
    return frozenset(exact), tuple(suffixes), any_host


def _pattern_meet(a: str, b: str) -> str | None:
    """The pattern matching exactly the hosts both canonical patterns match, or None when they share none."""
    if a == "*" or a == b:
        return b
    if b == "*":
        return a
    if a.startswith("*.") and b.startswith("*."):
        if a.endswith(b[1:]):
            return a
        return b if b.endswith(a[1:]) else None
    if a.startswith("*."):
        a, b = b, a
    # a is exact here; a wildcard b matches its own domain and every subdomain.
    if b.startswith("*.") and (a == b[2:] or a.endswith(b[1:])):
        return a
    return None


def intersect_allowed_domains(first: Sequence[str] | None, second: Sequence[str] | None) -> tuple[str, ...] | None:
    """An allowlist admitting a host only when both admit it; None (unrestricted) leaves the other side's.

    Exact rather than approximate, so two lists combine into one ordinary allowlist: `["*.example.com"]` and
    `["shop.example.com", "other.org"]` give `("shop.example.com",)`; lists sharing no host give `()` (none).
    """
    if first is None and second is None:
        return None
    left = _usable_patterns(first) if first is not None else ["*"]
    right = _usable_patterns(second) if second is not None else ["*"]
    met = (_pattern_meet(a, b) for a in left for b in right)
    return tuple(dict.fromkeys(p for p in met if p is not None))


def _usable_patterns(patterns: Sequence[str]) -> list[str]:
    out = []
    for raw in patterns:
        try:
            out.append(_normalize_pattern(raw))
        except ValueError:
            continue  # an unusable pattern allows nothing, as in domain_allowed
    return out


def domain_allowed(host: str | IPAddress, allowed_domains: Sequence[str] | None) -> bool:
    """Whether a host passes the allowlist. None or "*" allow any host; an empty list allows none.

    `example.com` matches only that host; `*.example.com` matches `example.com` itself and every subdomain
    (`a.b.example.com`) but never `evilexample.com`. Case, a trailing dot and IDN spellings do not matter.
    IP hosts match only an identical IP entry (in any encoding).
    """
    if allowed_domains is None:
        return True
    exact, suffixes, any_host = _compiled(tuple(allowed_domains))
    if any_host:
        return True
    if isinstance(host, str):
        try:
            host = normalize_host(host)
        except ValueError:
            return False
    text = host_text(host)
    if text in exact:
        return True
    return isinstance(host, str) and host.endswith(suffixes)


# --------------------------------------------------------------------------- decisions


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


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_STRIP = "".join(chr(c) for c in range(0x21))


def parse_web_url(url: str) -> tuple[str, str | IPAddress, int]:
    """(scheme, normalised host, port) read the way a browser reads a special URL; ValueError otherwise.

    Hand-rolled rather than urllib's, because urllib disagrees with browsers on `http://evil\\@good/`
    (browsers: host `evil`) and on percent-encoded or numeric hosts.
    """
    text = re.sub(r"[\t\n\r]", "", url.strip(_STRIP))
    match = _SCHEME_RE.match(text)
    if match is None:
        raise ValueError("not an absolute URL")
    scheme = match.group(1).lower()
    rest = text[match.end() :].lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    host_part, port_text = split_host_port(hostport)
    if not host_part:
        raise ValueError("URL has no host")
    return scheme, normalize_host(host_part), _parse_port(port_text, _DEFAULT_PORTS.get(scheme, 0))


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
    scheme, colon, rest = url.strip(_STRIP).partition(":")
    web = {"ws": "http", "wss": "https"}.get(scheme.lower()) if colon else None
    if web is None:
        return Decision(False, "scheme", f"scheme {scheme.lower() + ':' if colon else '(none)'} is not ws or wss")
    decision = check_url(f"{web}:{rest}", policy)
    if not decision.allowed or policy.allow_writes:
        return decision
    return Decision(False, "writes", "a WebSocket can send anything once open, and allow_writes is off")


def check_url(url: str, policy: Policy, *, method: str = "GET", has_body: bool = False) -> Decision:
    """Scheme, allowlist, literal-IP SSRF and write checks for one request or navigation; no DNS lookups."""
    match = _SCHEME_RE.match(url.strip(_STRIP))
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
