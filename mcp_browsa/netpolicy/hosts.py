"""Host and URL reading for the network policy: hosts normalised the way a browser reads them, ports, web URLs.

No I/O: names stay names (the egress proxy resolves them); IP literals in any spelling become addresses.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from functools import lru_cache
from typing import Union

import idna

__all__ = [
    "SAFE_METHODS",
    "SCHEME_RE",
    "URL_STRIP",
    "WEB_SCHEMES",
    "IPAddress",
    "IPNetwork",
    "host_text",
    "normalize_host",
    "parse_port",
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


def parse_port(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise ValueError(f"invalid port {text!r}")
    return int(text)


SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
URL_STRIP = "".join(chr(c) for c in range(0x21))


def parse_web_url(url: str) -> tuple[str, str | IPAddress, int]:
    """(scheme, normalised host, port) read the way a browser reads a special URL; ValueError otherwise.

    Hand-rolled rather than urllib's, because urllib disagrees with browsers on `http://evil\\@good/`
    (browsers: host `evil`) and on percent-encoded or numeric hosts.
    """
    text = re.sub(r"[\t\n\r]", "", url.strip(URL_STRIP))
    match = SCHEME_RE.match(text)
    if match is None:
        raise ValueError("not an absolute URL")
    scheme = match.group(1).lower()
    rest = text[match.end() :].lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    host_part, port_text = split_host_port(hostport)
    if not host_part:
        raise ValueError("URL has no host")
    return scheme, normalize_host(host_part), parse_port(port_text, _DEFAULT_PORTS.get(scheme, 0))
