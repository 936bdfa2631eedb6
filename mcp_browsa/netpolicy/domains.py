"""The `allowed_domains` allowlist: validated patterns, matching a host, and intersecting two lists."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from functools import lru_cache

from mcp_browsa.netpolicy.hosts import IPAddress, host_text, normalize_host, split_host_port

__all__ = ["domain_allowed", "intersect_allowed_domains", "normalize_allowed_domains"]


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
