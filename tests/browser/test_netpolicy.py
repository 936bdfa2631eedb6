"""Pure URL-guard policy: host encodings, forbidden address classes, operator exemptions, allowlists, URL checks."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.netpolicy import (
    Policy,
    PrivateNetworkRule,
    check_addresses,
    check_url,
    check_websocket,
    domain_allowed,
    host_text,
    intersect_allowed_domains,
    is_forbidden_address,
    normalize_host,
    parse_web_url,
)

ip = ipaddress.ip_address
LOOPBACK = ip("127.0.0.1")


@pytest.mark.parametrize(
    "raw",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0X7F000001",
        "0177.0.0.1",
        "0177.0000.0.01",
        "127.1",
        "127.0.1",
        "0x7f.1",
        "0x7f.0.0.0x1",
        "127.0.0.1.",
        "%31%32%37.0.0.1",
        "１２７.０.０.１",  # fullwidth digits map to ASCII under UTS #46
    ],
)
def test_ipv4_encodings_normalise_like_a_browser(raw: str) -> None:
    assert normalize_host(raw) == LOOPBACK


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[64:ff9b::10.0.0.1]", "64:ff9b::a00:1"),
        ("::1", "::1"),
    ],
)
def test_ipv6_forms_normalise(raw: str, expected: str) -> None:
    assert normalize_host(raw) == ip(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("ex%41mple.com", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("☃.net", "xn--n3h.net"),
        ("example.1a", "example.1a"),  # last label is not a number, so this stays a name
    ],
)
def test_names_normalise(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        *("1.2.3.4.5", "256.0.0.1", "1.256.1", "0x100000000", "09.1.1.1", "1..1", "[::1", "[fe80::1%25eth0]"),
        *("a@b", "", ".", "a\u200db.test"),
        "a b",  # Chromium escapes the space instead; refusing is the safe side
    ],
)
def test_hosts_a_browser_rejects_raise(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(raw)


CROSS_CHECK = [
    *("2130706433", "0x7f000001", "0177.0000.0.01", "127.1", "0x7f.0.0.0x1", "127.0.0.1.", "%31%32%37.0.0.1"),
    *("１２７.０.０.１", "0x", "4294967295", "4294967296", "0251.0376.0251.0376", "1.0x100", "1.2.3.4.5", "09.1.1.1"),
    *("1..1", "0xg.1", "foo.0x", "foo.09", "example.1a", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]", "[::1"),
    *("[64:ff9b::10.0.0.1]", "[fe80::1%25eth0]", "Example.COM.", "ex%41mple.com", "BÜCHER.example", "☃.net"),
    *("ß.de", "a\u200db.test", "under_score.test", "-lead.test", "a..b", "a^b", "a|b"),
]


@pytest.mark.anyio
async def test_hosts_normalise_exactly_as_chromium_parses_them(chromium: FoundBrowser) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium.executable, args=chromium_args(), headless=True)
        page = await browser.new_page()
        parsed: list[str | None] = await page.evaluate(
            "hosts => hosts.map(h => { try { return new URL('http://' + h + '/').hostname } catch { return null } })",
            CROSS_CHECK,
        )
        await browser.close()
    for host, theirs in zip(CROSS_CHECK, parsed, strict=True):
        try:
            ours: str | None = host_text(normalize_host(host))
        except ValueError:
            ours = None
        assert ours == (theirs.removesuffix(".") if theirs else None), host


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv4_encoding_is_the_same_address(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    a, b, c, d = address.packed
    for form in (str(value), hex(value), f"0{value:o}", f"{a}.{(b << 16) | (c << 8) | d}", f"0x{a:x}.0{b:o}.{c}.{d}"):
        assert normalize_host(form) == address, form


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.255", "cgnat"),
        ("fc00::1", "ula"),
        ("fd12:3456::1", "ula"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("fec0::1", "site-local"),
        ("2001::1", "reserved"),  # Teredo
        # IPv6 that carries an IPv4: judged by the IPv4 inside first
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:8.8.8.8", "ipv4-mapped"),
        ("64:ff9b::10.0.0.1", "private"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b::8.8.8.8", "nat64"),
        ("64:ff9b:1::1", "nat64"),
        ("::127.0.0.1", "loopback"),
        ("::8.8.8.8", "ipv4-compatible"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 around 169.254.169.254
    ],
)
def test_forbidden_address_classes(address: str, rule: str) -> None:
    assert is_forbidden_address(ip(address)) == rule


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2002:808:808::"]
)
def test_public_addresses_pass(address: str) -> None:
    assert is_forbidden_address(ip(address)) is None


def test_private_rule_parse_modes() -> None:
    assert PrivateNetworkRule.parse("") == PrivateNetworkRule()
    assert PrivateNetworkRule.parse(" 0 ") == PrivateNetworkRule()
    assert PrivateNetworkRule.parse("1").allow_all
    assert PrivateNetworkRule.parse("1").exempts("anything", 1, ip("10.0.0.1"))
    assert not PrivateNetworkRule().exempts("localhost", 80, LOOPBACK)


def test_private_rule_exemptions() -> None:
    rule = PrivateNetworkRule.parse("127.0.0.1:3000, 10.1.2.0/24,localhost,[::1]:8080,fd00::7,Dev.Internal:9000")
    assert rule.exempts("127.0.0.1", 3000, LOOPBACK)
    assert rule.exempts("anyname.test", 3000, LOOPBACK)  # an address entry is about the address, whatever the name
    assert not rule.exempts("127.0.0.1", 3001, LOOPBACK)
    assert not rule.exempts("127.0.0.2", 3000, ip("127.0.0.2"))
    assert rule.exempts("x", 3000, ip("::ffff:127.0.0.1"))  # the same destination in IPv4-mapped form
    assert rule.exempts("db", 5432, ip("10.1.2.200"))
    assert not rule.exempts("db", 5432, ip("10.1.3.1"))
    assert rule.exempts("LOCALHOST.", 1234, ip("::1"))  # a name entry covers whatever that name resolves to
    assert rule.exempts("h", 8080, ip("::1"))
    assert not rule.exempts("h", 8081, ip("::1"))
    assert rule.exempts("h", 1, ip("fd00::7"))
    assert rule.exempts("dev.internal", 9000, ip("10.9.9.9"))
    assert not rule.exempts("dev.internal", 9001, ip("10.9.9.9"))


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "127.0.0.1:99999", "host:port", "a b", "[::1"])
def test_private_rule_typos_are_loud(raw: str) -> None:
    with pytest.raises(ValueError, match="BROWSA_ALLOW_PRIVATE_NETWORK"):
        PrivateNetworkRule.parse(raw)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),  # the apex is part of *.example.com
        ("www.example.com", True),
        ("a.b.example.com", True),
        ("WWW.Example.COM.", True),
        ("evilexample.com", False),
        ("example.com.evil.net", False),
        ("notexample.com", False),
        ("shop.test", True),
        ("www.shop.test", False),  # an entry without a wildcard is exact
        ("xn--bcher-kva.de", True),
        ("www.bücher.de", True),
        ("127.0.0.1", True),  # listed as 0x7f000001
        ("2130706433", True),
        ("127.0.0.2", False),
        ("[::1]", True),
    ],
)
def test_domain_allowed(host: str, allowed: bool) -> None:
    patterns = ["*.example.com", "shop.test", "*.BÜCHER.de", "0x7f000001", "[0::1]"]
    assert domain_allowed(host, patterns) is allowed


def test_domain_allowed_any_and_none() -> None:
    assert domain_allowed("anything.example", None)
    assert domain_allowed("anything.example", ["*"])
    assert domain_allowed("10.0.0.1", ["*"])
    assert not domain_allowed("example.com", [])
    assert not domain_allowed("bad host", ["*.example.com"])


@pytest.mark.parametrize(
    ("first", "second", "both"),
    [
        (None, None, None),
        (None, ["Shop.Test"], ("shop.test",)),
        (["*"], ["shop.test", "*.example.com"], ("shop.test", "*.example.com")),
        (["*.example.com"], ["shop.example.com", "example.com", "other.org"], ("shop.example.com", "example.com")),
        (["*.example.com"], ["*.a.example.com"], ("*.a.example.com",)),
        (["*.a.example.com"], ["*.example.com"], ("*.a.example.com",)),
        (["*.example.com"], ["*.notexample.com", "evilexample.com"], ()),
        (["0x7f000001", "shop.test"], ["127.0.0.1"], ("127.0.0.1",)),
        (["shop.test"], ["other.test"], ()),
        (["shop.test"], [], ()),
    ],
)
def test_two_allowlists_meet_in_the_hosts_both_allow(
    first: list[str] | None, second: list[str] | None, both: tuple[str, ...] | None
) -> None:
    assert intersect_allowed_domains(first, second) == both
    swapped = intersect_allowed_domains(second, first)
    assert swapped == both if both is None else set(swapped or ()) == set(both)
    hosts = ["shop.test", "example.com", "a.example.com", "b.a.example.com", "evilexample.com", "127.0.0.1", "x.org"]
    for host in hosts:
        expected = domain_allowed(host, first) and domain_allowed(host, second)
        assert domain_allowed(host, intersect_allowed_domains(first, second)) is expected, host


@pytest.mark.parametrize("pattern", ["exa*mple.com", "*.", "*.10.0.0.1", "a b.com"])
def test_policy_rejects_bad_patterns(pattern: str) -> None:
    with pytest.raises(ValueError):
        Policy(allowed_domains=(pattern,))


def test_policy_normalises_patterns() -> None:
    policy = Policy(allowed_domains=("*.Bücher.DE.", "https://Shop.Example:8443/path", "0x7f.1"))
    assert policy.allowed_domains == ("*.xn--bcher-kva.de", "shop.example", "127.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "chrome://settings",
        "data:text/html,<b>x</b>",
        "about:blank",
        "ftp://example.com/",
        "view-source:http://example.com/",
        "//example.com/",
        "example.com",
        " \tFILE:///etc/passwd",
    ],
)
def test_only_web_schemes(url: str) -> None:
    decision = check_url(url, Policy())
    assert (decision.allowed, decision.rule) == (False, "scheme")


def test_url_is_read_like_a_browser_reads_it() -> None:
    assert parse_web_url("http://evil.test\\@good.test/") == ("http", "evil.test", 80)
    assert parse_web_url("HTTPS://user:pw@Good.Test:8443/x?y#z") == ("https", "good.test", 8443)
    assert parse_web_url("http:\\\\evil.test/") == ("http", "evil.test", 80)
    assert parse_web_url("http:///evil.test/") == ("http", "evil.test", 80)
    assert parse_web_url("http://ev\til.test/") == ("http", "evil.test", 80)
    assert parse_web_url("http://0x7f.1:81/") == ("http", LOOPBACK, 81)
    policy = Policy(allowed_domains=("good.test",))
    assert check_url("http://evil.test\\@good.test/", policy).rule == "allowed_domains"
    assert check_url("http://good.test@evil.test/", policy).rule == "allowed_domains"
    assert check_url("http://good.test.evil.test/", policy).rule == "allowed_domains"
    assert check_url("https://GOOD.test./path", policy).allowed


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1/", "ssrf:loopback"),
        ("http://2130706433/", "ssrf:loopback"),
        ("http://0x7f.1/", "ssrf:loopback"),
        ("http://[::1]:8080/", "ssrf:loopback"),
        ("http://[::ffff:7f00:1]/", "ssrf:loopback"),
        ("http://169.254.169.254/latest/meta-data/", "ssrf:link-local"),
        ("http://0251.0376.0251.0376/", "ssrf:link-local"),
        ("http://10.0.0.1/", "ssrf:private"),
        ("http://100.64.1.1/", "ssrf:cgnat"),
        ("http://[fd00::1]/", "ssrf:ula"),
        ("http://0.0.0.0:8000/", "ssrf:unspecified"),
        ("http://[64:ff9b::a9fe:a9fe]/", "ssrf:link-local"),
        ("http://example.com:99999/", "url"),
        ("http://:80/", "url"),
    ],
)
def test_literal_addresses_are_checked_without_dns(url: str, rule: str) -> None:
    assert check_url(url, Policy()).rule == rule


def test_exemption_is_per_port() -> None:
    policy = Policy(private=PrivateNetworkRule.parse("127.0.0.1:3000"))
    assert check_url("http://127.0.0.1:3000/", policy).allowed
    assert check_url("http://127.1:3000/", policy).allowed
    assert check_url("http://127.0.0.1:3001/", policy).rule == "ssrf:loopback"
    assert check_url("http://localhost:3000/", policy).allowed  # a name: left to the proxy, which resolves it


def test_writes() -> None:
    read_only = Policy(allow_writes=False)
    for method in ("GET", "head", "OPTIONS"):
        assert check_url("https://example.com/", read_only, method=method).allowed
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        decision = check_url("https://example.com/", read_only, method=method)
        assert (decision.allowed, decision.rule) == (False, "writes")
    assert check_url("https://example.com/", Policy(allow_writes=True), method="POST").allowed
    # A CORS preflight has no body; an OPTIONS that carries one can change things like any POST.
    decision = check_url("https://example.com/", read_only, method="OPTIONS", has_body=True)
    assert (decision.allowed, decision.rule) == (False, "writes") and "OPTIONS with a body" in decision.reason
    assert check_url("https://example.com/", Policy(allow_writes=True), method="OPTIONS", has_body=True).allowed
    assert check_websocket("wss://example.com/chat", read_only).rule == "writes"
    assert check_websocket("ws://example.com/chat", Policy()).allowed
    # The host is judged first, as for any request: the most basic refusal is the one reported.
    assert check_websocket("ws://127.0.0.1:9/", read_only).rule == "ssrf:loopback"
    assert check_websocket("https://example.com/", Policy()).rule == "scheme"


def test_check_addresses_refuses_if_any_address_is_forbidden() -> None:
    policy = Policy()
    assert check_addresses("ok.test", 443, [ip("93.184.215.14"), ip("2606:2800::1")], policy).allowed
    decision = check_addresses("mixed.test", 443, [ip("93.184.215.14"), ip("10.0.0.5")], policy)
    assert (decision.allowed, decision.rule) == (False, "ssrf:private")
    assert "10.0.0.5" in decision.reason
    assert check_addresses("none.test", 443, [], policy).rule == "dns"
    exempt = Policy(private=PrivateNetworkRule.parse("10.0.0.0/8"))
    assert check_addresses("mixed.test", 443, [ip("93.184.215.14"), ip("10.0.0.5")], exempt).allowed
    assert check_addresses("x.test", 443, [ip("10.0.0.5"), LOOPBACK], exempt).rule == "ssrf:loopback"
