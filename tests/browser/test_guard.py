"""The URL guard as a boundary: the egress proxy on raw sockets, then real Chromium forced through it.

Names ending in .test resolve to 127.0.0.1 through an injected resolver. The `site` server's port is exempted, so it
plays a public host; the `private` server listens on another port of 127.0.0.1 and must never see a request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.browser.guard import (
    GUARD_LAUNCH_ARGS,
    BlockedRequest,
    EgressProxy,
    context_options,
    system_resolver,
)
from mcp_browsa.browser.intercept import guard_page, install_request_guard, refuse_websockets
from mcp_browsa.netpolicy import IPAddress, Policy, PrivateNetworkRule
from tests.support.sites import Site, serve_site
from tests.support.tcp import tcp_server
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

LOOPBACK = ipaddress.ip_address("127.0.0.1")


async def fake_dns(host: str, port: int) -> list[IPAddress]:
    if host.endswith(".test"):
        return [LOOPBACK]
    return await system_resolver(host, port)


@pytest.fixture(scope="module")
async def proxy() -> AsyncIterator[EgressProxy]:
    async with EgressProxy(resolver=fake_dns) as running:
        yield running


@pytest.fixture(scope="module")
async def browser(chromium: FoundBrowser) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=chromium.executable, args=chromium_args() + list(GUARD_LAUNCH_ARGS), headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
def private() -> Iterator[Site]:
    with serve_site() as s:
        yield s


def exempt(*ports: int, **kwargs: Any) -> Policy:
    """A policy under which only these ports of 127.0.0.1 count as public."""
    return Policy(private=PrivateNetworkRule.parse(",".join(f"127.0.0.1:{p}" for p in ports)), **kwargs)


@asynccontextmanager
async def guarded(
    browser: Browser, proxy: EgressProxy, policy: Policy, *, route: bool = True, **options: Any
) -> AsyncIterator[tuple[BrowserContext, list[BlockedRequest]]]:
    blocked: list[BlockedRequest] = []
    lease = await proxy.register(policy, on_block=blocked.append)
    context = await browser.new_context(**context_options(lease), **options)
    if route:
        await install_request_guard(context, policy, blocked.append)
    try:
        yield context, blocked
    finally:
        await context.close()
        await lease.close()


async def open_page(context: BrowserContext) -> Page:
    """A new tab with the request guard on before its first request, as the pool and the tabs open theirs."""
    page = await context.new_page()
    await guard_page(page)
    return page


async def read_until(stream: SocketStream, marker: bytes, buf: bytes = b"") -> bytes:
    while marker not in buf:
        buf += await stream.receive()
    return buf


async def read_to_eof(stream: SocketStream) -> bytes:
    data = b""
    with anyio.fail_after(5):
        try:
            while True:
                data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return data


async def websocket_hello(stream: SocketStream, heads: list[bytes] | None = None) -> None:
    """Just enough RFC 6455: accept the handshake, send one text frame, hold until the client leaves.

    Each handshake that arrives is added to `heads`; a connection closed before one is not an error.
    """
    async with stream:
        try:
            head = await read_until(stream, b"\r\n\r\n")
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return
        if heads is not None:
            heads.append(head)
        match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", head)
        assert match is not None
        accept = base64.b64encode(hashlib.sha1(match.group(1) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        await stream.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n\x81\x05hello"
        )
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass


class Capture:
    """An upstream that records each raw request (head plus framed body) and answers it with keep-alive headers."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def __call__(self, stream: SocketStream) -> None:
        async with stream:
            self.requests.append(b"")
            try:
                await self._answer(stream)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass  # the proxy hung up mid-request: what arrived is recorded

    async def _answer(self, stream: SocketStream) -> None:
        data = await read_until(stream, b"\r\n\r\n")
        self.requests[-1] = data
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        if b"transfer-encoding: chunked" in head:
            data = await read_until(stream, b"\r\n0\r\n", data)
            while not data.endswith(b"\r\n\r\n"):  # trailers, if any, end with an empty line
                data += await stream.receive()
        elif (length := re.search(rb"content-length: (\d+)", head)) is not None:
            while len(data) < len(head) + 4 + int(length.group(1)):
                data += await stream.receive()
        self.requests[-1] = data
        with anyio.move_on_after(0.2):  # anything arriving now was never meant for us
            try:
                while True:
                    self.requests[-1] += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\r\nok")


async def exchange(port: int, request: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        return await read_to_eof(stream)


# --------------------------------------------------------------------------- the proxy on raw sockets


async def test_connect_resolves_once_and_pins_the_checked_address(proxy: EgressProxy, site: Site) -> None:
    calls: list[str] = []

    async def rebinding_dns(host: str, port: int) -> list[IPAddress]:
        calls.append(host)  # a rebinding server would answer 10.0.0.1 the second time
        return [LOOPBACK] if len(calls) == 1 else [ipaddress.ip_address("10.0.0.1")]

    async with EgressProxy(resolver=rebinding_dns) as own:
        lease = await own.register(exempt(site.port))
        async with await anyio.connect_tcp("127.0.0.1", lease.port) as stream:
            await stream.send(f"CONNECT rebind.test:{site.port} HTTP/1.1\r\nHost: rebind.test\r\n\r\n".encode())
            assert (await read_until(stream, b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            await stream.send(b"GET /guard/frame.html HTTP/1.0\r\nHost: rebind.test\r\n\r\n")
            assert b"framed" in await read_to_eof(stream)
        await lease.close()
    assert calls == ["rebind.test"]
    assert ("GET", "/guard/frame.html") in site.requests


async def test_connect_refused_when_any_address_is_forbidden(site: Site) -> None:
    async def mixed_dns(host: str, port: int) -> list[IPAddress]:
        return [LOOPBACK, ipaddress.ip_address("10.0.0.1")]

    blocked: list[BlockedRequest] = []
    async with EgressProxy(resolver=mixed_dns) as own:
        lease = await own.register(exempt(site.port), on_block=blocked.append)
        answer = await exchange(lease.port, f"CONNECT mixed.test:{site.port} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"X-Browsa-Guard: ssrf:private" in answer
    assert blocked == [
        BlockedRequest(
            f"mixed.test:{site.port}",
            "ssrf:private",
            "mixed.test resolves to 10.0.0.1, which is a private address",
            "CONNECT",
        )
    ]


async def test_forward_rewrites_the_head_and_closes_after_one_response(proxy: EgressProxy, private: Site) -> None:
    capture = Capture()
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port))
        answer = await exchange(
            lease.port,
            f"GET http://shop.test:{port}/p?q=1 HTTP/1.1\r\nHost: elsewhere.test\r\nProxy-Connection: keep-alive\r\n"
            f"Proxy-Authorization: Basic eDp5\r\nKeep-Alive: 300\r\nX-Kept: yes\r\nConnection: Upgrade, X-Hop\r\n"
            f"X-Hop: dropped\r\nUpgrade: h2c\r\n\r\n"  # only WebSocket may upgrade; h2c would carry unchecked requests
            # A second request on the same connection must never be forwarded anywhere.
            f"GET http://internal.test:{private.port}/secret HTTP/1.1\r\nHost: internal.test\r\n\r\n".encode(),
        )
        await lease.close()
    assert capture.requests == [
        f"GET /p?q=1 HTTP/1.1\r\nHost: shop.test:{port}\r\nX-Kept: yes\r\nConnection: close\r\n\r\n".encode()
    ]
    assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    assert private.requests == []


async def test_forward_frames_a_chunked_body_and_drops_what_follows(proxy: EgressProxy, private: Site) -> None:
    capture = Capture()
    body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
    smuggled = f"GET http://internal.test:{private.port}/ HTTP/1.1\r\nHost: internal.test\r\n\r\n".encode()
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port))
        head = f"POST http://shop.test:{port}/submit HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        answer = await exchange(lease.port, head.encode() + body + smuggled)
        await lease.close()
    assert answer.endswith(b"\r\n\r\nok")
    assert capture.requests[0].endswith(b"Connection: close\r\n\r\n" + body)
    assert private.requests == []


async def test_a_chunk_size_upstream_could_read_differently_ends_the_request(proxy: EgressProxy) -> None:
    capture = Capture()
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port))
        head = f"POST http://shop.test:{port}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        answer = await exchange(lease.port, head.encode() + b"0x4\r\nWiki\r\n0\r\n\r\n")
        await lease.close()
    assert answer == b""
    assert capture.requests == [
        f"POST / HTTP/1.1\r\nHost: shop.test:{port}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
    ]


@pytest.mark.parametrize(
    ("request_text", "status"),
    [
        ("POST http://shop.test:{port}/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        ("POST http://shop.test:{port}/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400"),
        ("POST http://shop.test:{port}/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", b"400"),
        ("GET http://shop.test:{port}/ HTTP/1.1\r\nX-Folded: a\r\n  b\r\n\r\n", b"400"),
        ("GET http://shop.test:{port}/ HTTP/1.1\r\nBad Header : x\r\n\r\n", b"400"),
        ("GET http://shop.test:{port}/ HTTP/1.1\r\nBad Header: x\r\n\r\n", b"400"),
        ("GET https://shop.test:{port}/ HTTP/1.1\r\n\r\n", b"400"),
        ("GET http://user@shop.test:{port}/ HTTP/1.1\r\n\r\n", b"400"),
        ("GET /relative HTTP/1.1\r\nHost: shop.test\r\n\r\n", b"400"),
        ("GET http://shop.test:{port}/ HTTP/2\r\n\r\n", b"400"),
        ("CONNECT shop.test HTTP/1.1\r\n\r\n", b"400"),
        ("CONNECT [::1 HTTP/1.1\r\n\r\n", b"400"),
        ("GET http://shop.test:{port}/ HTTP/1.1\r\nX-Big: " + "x" * 70_000 + "\r\n\r\n", b"431"),
    ],
    ids=[
        "length-and-chunked",
        "two-lengths",
        "unknown-coding",
        "folded-header",
        "space-before-colon",
        "space-in-name",
        "https-forward",
        "userinfo",
        "origin-form",
        "http2",
        "connect-no-port",
        "connect-bad-ipv6",
        "huge-head",
    ],
)
async def test_malformed_requests_never_reach_upstream(proxy: EgressProxy, request_text: str, status: bytes) -> None:
    capture = Capture()
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port))
        answer = await exchange(lease.port, request_text.format(port=port).encode())
        await lease.close()
    assert answer.split(b" ")[1] == status
    assert capture.requests == []


async def test_forward_writes_refused_when_read_only(proxy: EgressProxy) -> None:
    capture, blocked = Capture(), list[BlockedRequest]()
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port, allow_writes=False), on_block=blocked.append)
        answer = await exchange(lease.port, f"DELETE http://shop.test:{port}/x HTTP/1.1\r\n\r\n".encode())
        ok = await exchange(lease.port, f"HEAD http://shop.test:{port}/x HTTP/1.1\r\n\r\n".encode())
        await lease.close()
    assert answer.startswith(b"HTTP/1.1 403") and b"rule: writes" in answer
    assert ok.startswith(b"HTTP/1.1 200")
    assert [(b.rule, b.method) for b in blocked] == [("writes", "DELETE")]
    assert [r.split(b" ")[0] for r in capture.requests] == [b"HEAD"]


async def test_forward_options_with_a_body_is_a_write(proxy: EgressProxy) -> None:
    capture, blocked = Capture(), list[BlockedRequest]()
    head = "OPTIONS http://shop.test:{port}/x HTTP/1.1\r\n"
    async with tcp_server(capture) as port:
        lease = await proxy.register(exempt(port, allow_writes=False), on_block=blocked.append)
        sized = await exchange(lease.port, (head + "Content-Length: 3\r\n\r\nabc").format(port=port).encode())
        chunked = (head + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").format(port=port)
        streamed = await exchange(lease.port, chunked.encode())
        preflight = (head + "Access-Control-Request-Method: PUT\r\nContent-Length: 0\r\n\r\n").format(port=port)
        allowed = await exchange(lease.port, preflight.encode())
        await lease.close()
    assert sized.startswith(b"HTTP/1.1 403") and streamed.startswith(b"HTTP/1.1 403") and b"rule: writes" in sized
    assert allowed.startswith(b"HTTP/1.1 200")
    assert [(b.rule, b.method) for b in blocked] == [("writes", "OPTIONS")] * 2
    assert len(capture.requests) == 1 and b"access-control-request-method: put" in capture.requests[0].lower()


async def test_websocket_upgrade_over_plain_http(proxy: EgressProxy, private: Site) -> None:
    handshake = "GET http://{host}/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    handshake += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    async with tcp_server(websocket_hello) as port:
        lease = await proxy.register(exempt(port))
        async with await anyio.connect_tcp("127.0.0.1", lease.port) as stream:
            await stream.send(handshake.format(host=f"shop.test:{port}").encode())
            reply = await read_until(stream, b"hello")
        denied = await exchange(lease.port, handshake.format(host=f"internal.test:{private.port}").encode())
        await lease.close()
    assert reply.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in reply
    assert denied.startswith(b"HTTP/1.1 403") and b"ssrf:loopback" in denied
    assert private.requests == []

    # Read-only: no WebSocket opens at all, since once open it can carry anything.
    reached, blocked = Capture(), list[BlockedRequest]()
    async with tcp_server(reached) as port:
        lease = await proxy.register(exempt(port, allow_writes=False), on_block=blocked.append)
        refused = await exchange(lease.port, handshake.format(host=f"shop.test:{port}").encode())
        await lease.close()
    assert refused.startswith(b"HTTP/1.1 403") and b"rule: writes" in refused
    assert [(b.rule, b.method) for b in blocked] == [("writes", "WEBSOCKET")]
    assert reached.requests == []


async def test_connect_timeout_answers_504() -> None:
    async def slow_dns(host: str, port: int) -> list[IPAddress]:
        await anyio.sleep_forever()  # a resolver that never answers: only the connect timeout ends the wait
        raise AssertionError("unreachable")

    async with EgressProxy(resolver=slow_dns, connect_timeout=0.2) as own:
        lease = await own.register(Policy(private=PrivateNetworkRule.parse("1")))
        started = time.monotonic()
        answer = await exchange(lease.port, b"CONNECT slow.test:443 HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 504")
    assert time.monotonic() - started < 2


async def test_closing_a_lease_cuts_its_tunnels_and_its_port(proxy: EgressProxy) -> None:
    async with tcp_server(websocket_hello) as port:
        lease = await proxy.register(exempt(port))
        async with await anyio.connect_tcp("127.0.0.1", lease.port) as stream:
            await stream.send(f"CONNECT shop.test:{port} HTTP/1.1\r\n\r\n".encode())
            await read_until(stream, b"\r\n\r\n")
            await stream.send(b"GET / HTTP/1.1\r\nSec-WebSocket-Key: a2V5\r\n\r\n")
            await read_until(stream, b"hello")
            await lease.close()
            assert await read_to_eof(stream) == b""
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", lease.port)


async def test_a_failing_callback_does_not_open_the_gate(proxy: EgressProxy, private: Site) -> None:
    def explode(blocked: BlockedRequest) -> None:
        raise RuntimeError("listener bug")

    lease = await proxy.register(Policy(), on_block=explode)
    answer = await exchange(lease.port, f"GET http://127.0.0.1:{private.port}/ HTTP/1.1\r\n\r\n".encode())
    await lease.close()
    assert answer.startswith(b"HTTP/1.1 403")
    assert private.requests == []


async def test_a_tunnel_carries_every_byte_both_ways_in_order(proxy: EgressProxy) -> None:
    # How fast the tunnel is (the 50 MB/s floor) is `python -m bench tunnel`'s to say: a speed asserted here failed
    # on a loaded machine without anything being wrong. What a user relies on is checked here: 16 MiB of random
    # bytes each way (several times what the sockets buffer, so the relay's back-pressure is crossed), unchanged.
    size = 16 * 1024 * 1024
    down, up = os.urandom(size), os.urandom(size)
    heard: list[bytearray] = []

    async def echo_back(stream: SocketStream) -> None:
        async with stream:
            got = bytearray()  # appended in place: bytes += bytes would copy all 16 MiB per chunk
            async with anyio.create_task_group() as tg:

                async def send_all() -> None:
                    for at in range(0, size, 1 << 20):
                        await stream.send(down[at : at + (1 << 20)])

                tg.start_soon(send_all)
                while len(got) < size:
                    got += await stream.receive(1 << 20)
            heard.append(got)

    async with tcp_server(echo_back) as port:
        lease = await proxy.register(exempt(port))
        async with await anyio.connect_tcp("127.0.0.1", lease.port) as stream:
            await stream.send(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
            head = await read_until(stream, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            received = bytearray(head[head.index(b"\r\n\r\n") + 4 :])
            async with anyio.create_task_group() as tg:

                async def send_all() -> None:
                    for at in range(0, size, 1 << 20):
                        await stream.send(up[at : at + (1 << 20)])

                tg.start_soon(send_all)
                with anyio.fail_after(120), contextlib.suppress(anyio.EndOfStream):
                    while True:  # the far end closes once it has sent its bytes and heard ours
                        received += await stream.receive(1 << 20)
        await lease.close()
    assert len(received) == size and hashlib.sha256(received).digest() == hashlib.sha256(down).digest()
    assert [len(h) for h in heard] == [size] and heard[0] == up


# --------------------------------------------------------------------------- real Chromium through the guard


def probe_url(site: Site, base: str, ws: str) -> str:
    return f"http://shop.test:{site.port}/guard/probe.html?base={base}&ws={ws}"


async def run_probe(context: BrowserContext, url: str) -> dict[str, str]:
    page = await open_page(context)
    response = await page.goto(url)
    assert response is not None and response.status == 200
    assert await page.text_content("#hello") == "guarded page"
    await page.wait_for_function("Object.keys(window.results).length === 6", timeout=10_000)
    results: dict[str, str] = await page.evaluate("window.results")
    return results


async def test_probe_reaches_everything_when_allowed(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    async with tcp_server(websocket_hello) as ws_port:
        policy = exempt(site.port, ws_port, allowed_domains=("*.test",))
        async with guarded(browser, proxy, policy) as (context, blocked):
            base = f"http://shop.test:{site.port}"
            results = await run_probe(context, probe_url(site, base, f"ws://shop.test:{ws_port}/"))
    assert results == {
        "img": "loaded",
        "script": "loaded",
        "fetch": "status 404",
        "xhr": "status 404",
        "iframe": "loaded",
        "ws": "message hello",
    }
    assert blocked == []


@pytest.mark.parametrize("route", [False, True], ids=["proxy", "proxy+route"])
async def test_names_resolving_to_private_addresses_are_blocked(
    browser: Browser, proxy: EgressProxy, site: Site, private: Site, route: bool
) -> None:
    target = f"internal.test:{private.port}"
    async with guarded(browser, proxy, exempt(site.port), route=route) as (context, blocked):
        results = await run_probe(context, probe_url(site, f"http://{target}", f"ws://{target}/"))
    assert private.requests == []
    assert results["img"] == results["script"] == results["xhr"] == results["ws"] == "error"
    paths = {"/guard/pixel.gif", "/guard/script.js", "/guard/fetch", "/guard/xhr", "/guard/frame.html"}
    assert {b.url_or_host for b in blocked} == {f"http://{target}{p}" for p in paths} | {target}
    assert {(b.rule, b.source) for b in blocked} == {("ssrf:loopback", "proxy")}


@pytest.mark.parametrize("route", [False, True], ids=["proxy", "proxy+route"])
async def test_hosts_outside_allowed_domains_are_blocked(
    browser: Browser, proxy: EgressProxy, site: Site, route: bool
) -> None:
    # evil.test is the very same (exempted) server: only the allowlist stands between the page and it.
    target = f"evil.test:{site.port}"
    policy = exempt(site.port, allowed_domains=("shop.test",))
    async with guarded(browser, proxy, policy, route=route) as (context, blocked):
        results = await run_probe(context, probe_url(site, f"http://{target}", f"ws://{target}/"))
    assert [path for _, path in site.requests if path.startswith("/guard/") and "probe" not in path] == []
    assert results["ws"] == "error"
    assert {b.rule for b in blocked} == {"allowed_domains"}
    assert {b.source for b in blocked} == ({"route", "proxy"} if route else {"proxy"})  # WebSockets skip route()
    assert f"http://{target}/guard/pixel.gif" in {b.url_or_host for b in blocked}


@pytest.mark.parametrize("route", [False, True], ids=["proxy", "proxy+route"])
async def test_redirects_are_checked_at_every_hop(
    browser: Browser, proxy: EgressProxy, site: Site, private: Site, route: bool
) -> None:
    hops = {
        "/hop/metadata": ("http://169.254.169.254/latest/meta-data/", "ssrf:link-local"),
        "/hop/metadata-tls": ("https://169.254.169.254/latest/meta-data/", "ssrf:link-local"),
        "/hop/private-name": (f"http://internal.test:{private.port}/secret", "ssrf:loopback"),
        "/hop/private-ip": (f"http://127.0.0.1:{private.port}/secret", "ssrf:loopback"),
    }
    for path, (location, _rule) in hops.items():
        site.routes[path] = redirect_to(location)
    async with guarded(browser, proxy, exempt(site.port), route=route) as (context, blocked):
        for path, (location, rule) in hops.items():
            del blocked[:]
            page = await open_page(context)  # a fresh page: an error page's own loads must not race the next hop
            try:
                response = await page.goto(f"http://shop.test:{site.port}{path}")
                assert response is not None and response.status == 403  # the proxy's refusal page
            except PlaywrightError as exc:
                assert "ERR_TUNNEL_CONNECTION_FAILED" in str(exc) or "ERR_BLOCKED_BY_CLIENT" in str(exc)
            assert rule in {b.rule for b in blocked}, path  # favicons of this or the previous refusal page may follow
            hop = location if location.startswith("http:") else "169.254.169.254:443"  # TLS: the proxy sees the host
            # A late favicon request of the previous page may be reported first; the hop must be among them. The
            # in-browser hook pauses every redirect hop as well, and refuses a literal address before the proxy.
            seen = [b.url_or_host for b in blocked]
            assert hop in seen or (route and location in seen), path
            await page.close()
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/frame.html")
        via_fetch = await page.evaluate("fetch('/hop/private-name').then(r => 'status ' + r.status, () => 'error')")
    assert via_fetch == "error"  # cross-origin refusal page without CORS headers
    assert private.requests == []


def redirect_to(location: str) -> Callable[[SimpleHTTPRequestHandler], None]:
    def handler(request: SimpleHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handler


async def test_loopback_goes_through_the_proxy(browser: Browser, proxy: EgressProxy, private: Site) -> None:
    # Chromium skips proxies for loopback unless told otherwise; a bypass would let these reach `private`.
    async with guarded(browser, proxy, Policy(), route=False) as (context, blocked):
        page = await open_page(context)
        for url in (f"http://localhost:{private.port}/", f"http://127.0.0.1:{private.port}/"):
            response = await page.goto(url)
            assert response is not None and response.status == 403
            assert "ssrf:loopback" in await page.content()
    assert [(b.url_or_host, b.rule) for b in blocked if "favicon" not in b.url_or_host] == [
        (f"http://localhost:{private.port}/", "ssrf:loopback"),
        (f"http://127.0.0.1:{private.port}/", "ssrf:loopback"),
    ]
    assert private.requests == []


def thank_you(request: SimpleHTTPRequestHandler) -> None:
    request.rfile.read(int(request.headers.get("Content-Length", "0")))
    body = b"<!doctype html><title>thanks</title><p id=done>thanks</p>"
    request.send_response(200)
    request.send_header("Content-Type", "text/html")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


@pytest.mark.parametrize("route", [False, True], ids=["proxy", "proxy+route"])
async def test_form_post_needs_allow_writes(browser: Browser, proxy: EgressProxy, site: Site, route: bool) -> None:
    site.routes["/guard/submit"] = thank_you
    async with guarded(browser, proxy, exempt(site.port, allow_writes=False), route=route) as (context, blocked):
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/form.html")
        await page.click("#send")
        await wait_until(lambda: blocked, "the form's POST refused", timeout=5)
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/form.html")
        fetched = await page.evaluate("window.postWithFetch()")
    assert ("POST", "/guard/submit") not in site.requests
    assert [(b.rule, b.method) for b in blocked] == [("writes", "POST")] * 2
    assert blocked[0].navigation is route  # only the route hook can tell a navigation from a subresource
    assert fetched == ("error" if route else "status 403")

    async with guarded(browser, proxy, exempt(site.port, allow_writes=True), route=route) as (context, blocked):
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/form.html")
        async with page.expect_navigation():
            await page.click("#send")
        assert await page.text_content("#done") == "thanks"
    assert ("POST", "/guard/submit") in site.requests
    assert blocked == []


_OPEN_SOCKET_JS = """([url, inWorker]) => new Promise((done) => {
  const code = `const ws = new WebSocket(${JSON.stringify(url)});
    ws.onmessage = (e) => postMessage('message ' + e.data); ws.onclose = (e) => postMessage('closed ' + e.code);`;
  if (!inWorker) {
    const ws = new WebSocket(url);
    ws.onmessage = (e) => done('message ' + e.data);
    ws.onclose = (e) => done('closed ' + e.code);
    return;
  }
  const worker = new Worker(URL.createObjectURL(new Blob([code], {type: 'text/javascript'})));
  worker.onmessage = (e) => done(e.data);
})"""


@pytest.mark.parametrize("writes", [False, True], ids=["read-only", "writable"])
async def test_websockets_need_allow_writes_in_pages_and_workers(
    browser: Browser, proxy: EgressProxy, site: Site, writes: bool
) -> None:
    handshakes: list[bytes] = []
    async with tcp_server(partial(websocket_hello, heads=handshakes)) as ws_port:
        policy = exempt(site.port, ws_port, allow_writes=writes)
        async with guarded(browser, proxy, policy) as (context, blocked):
            if not writes:
                await refuse_websockets(context, policy, blocked.append)
            page = await open_page(context)
            await page.goto(f"http://shop.test:{site.port}/guard/form.html")
            url = f"ws://shop.test:{ws_port}/"
            in_page = await page.evaluate(_OPEN_SOCKET_JS, [url, False])
            in_worker = await page.evaluate(_OPEN_SOCKET_JS, [url, True])
    if writes:
        assert (in_page, in_worker) == ("message hello", "message hello")
        assert len(handshakes) == 2 and blocked == []
        return
    # The page's own socket is closed before it connects; a worker's, which the stand-in cannot reach, is stopped at
    # the proxy. Neither handshake reaches the server, and each is a blocked write.
    assert (in_page, in_worker) == ("closed 1008", "closed 1006")
    assert handshakes == []
    assert [(b.rule, b.method, b.source) for b in blocked] == [
        ("writes", "WEBSOCKET", "route"),
        ("writes", "WEBSOCKET", "proxy"),
    ]
    assert blocked[1].url_or_host == f"ws://shop.test:{ws_port}/"


async def test_service_workers_cannot_register(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    url = site.url("/guard/sw.html")  # 127.0.0.1 is a secure context, where service workers normally exist
    async with guarded(browser, proxy, exempt(site.port)) as (context, _blocked):
        page = await open_page(context)
        await page.goto(url)
        outcome = await page.evaluate("window.registration")
    assert outcome != "registered"
    assert ("GET", "/guard/sw.js") not in site.requests

    # The same page in a context without the option does register one, so the check above means something.
    lease = await proxy.register(exempt(site.port))
    context = await browser.new_context(proxy=lease.playwright_proxy)
    try:
        page = await open_page(context)
        await page.goto(url)
        assert await page.evaluate("window.registration") == "registered"
    finally:
        await context.close()
        await lease.close()


async def test_webrtc_sends_no_udp_around_the_proxy(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        async with guarded(browser, proxy, exempt(site.port)) as (context, _blocked):
            page = await open_page(context)
            await page.goto(site.url("/guard/frame.html"))
            await page.evaluate(
                """async (stun) => {
                    const pc = new RTCPeerConnection({iceServers: [{urls: stun}]});
                    pc.createDataChannel("x");
                    await pc.setLocalDescription(await pc.createOffer());
                    await new Promise((resolve) => setTimeout(resolve, 1000));
                    pc.close();
                }""",
                f"stun:127.0.0.1:{udp.getsockname()[1]}",
            )
        with pytest.raises(BlockingIOError):
            udp.recvfrom(2048)
