"""The egress proxy on a shared address (BROWSA_EGRESS_LISTEN): only a live context's own credentials get through.

Raw sockets first (what anyone on the network could send), then a real Chromium given wrong credentials.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from anyio.abc import SocketAttribute
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.browser.egress_access import ProxyLease
from mcp_browsa.browser.guard import EgressProxy, context_options
from mcp_browsa.errors import InternalError
from mcp_browsa.netpolicy import Policy, PrivateNetworkRule
from tests.support.remote_browsers import free_port
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

PAGE = "/foundation/details.html"


@pytest.fixture(scope="module")
def public() -> Iterator[Site]:
    with serve_site() as s:
        yield s


@pytest.fixture
async def proxy() -> AsyncIterator[EgressProxy]:
    async with EgressProxy(listen=("127.0.0.1", free_port())) as running:
        yield running


def policy_for(site: Site) -> Policy:
    return Policy(private=PrivateNetworkRule.parse(f"127.0.0.1:{site.port}"))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def ask(lease: ProxyLease, site: Site, authorization: str | None) -> bytes:
    """One plain-HTTP GET of the site through the proxy's shared address, as any client on the network could send."""
    head = f"GET {site.url(PAGE)} HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n"
    if authorization is not None:
        head += f"Proxy-Authorization: {authorization}\r\n"
    async with await anyio.connect_tcp(lease.host, lease.port) as stream:
        await stream.send((head + "\r\n").encode())
        answer = b""
        with anyio.fail_after(10):
            try:
                while True:
                    answer += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return answer


async def test_a_lease_on_the_shared_address_names_it_with_credentials_of_its_own(
    proxy: EgressProxy, public: Site
) -> None:
    first, second = await proxy.register(policy_for(public)), await proxy.register(policy_for(public))
    assert proxy.listen is not None
    assert (first.host, first.port) == (second.host, second.port) == proxy.listen
    assert first.username and first.password and second.username and second.password
    assert first.username != second.username and first.password != second.password
    settings = first.playwright_proxy
    assert settings["server"] == f"http://127.0.0.1:{proxy.listen[1]}"
    assert (settings.get("username"), settings.get("password")) == (first.username, first.password)
    await first.close()
    await second.close()


async def test_requests_without_valid_credentials_are_refused_407_and_never_reach_the_site(
    proxy: EgressProxy, public: Site
) -> None:
    lease, other = await proxy.register(policy_for(public)), await proxy.register(policy_for(public))
    assert lease.username and lease.password and other.username
    public.requests.clear()
    for authorization in (
        None,
        basic(lease.username, "wrong"),
        basic("nobody", lease.password),
        basic(other.username, lease.password),  # another context's name with this one's password
        "Bearer " + lease.password,
        "Basic not-base64!",
    ):
        answer = await ask(lease, public, authorization)
        assert status(answer) == 407, (authorization, answer[:200])
        assert b'Proxy-Authenticate: Basic realm="mcp-browsa"' in answer
    assert public.requests == []
    # The positive control: the lease's own credentials get the page.
    answer = await ask(lease, public, basic(lease.username, lease.password))
    assert status(answer) == 200, answer[:200]
    assert public.requests == [("GET", PAGE)]
    await lease.close()
    await other.close()


async def test_credentials_stop_working_once_their_context_is_given_back(proxy: EgressProxy, public: Site) -> None:
    lease = await proxy.register(policy_for(public))
    assert lease.username and lease.password
    credentials = basic(lease.username, lease.password)
    assert status(await ask(lease, public, credentials)) == 200
    await lease.close()
    public.requests.clear()
    assert status(await ask(lease, public, credentials)) == 407
    assert public.requests == []


async def test_closing_a_lease_cuts_its_open_tunnel_on_the_shared_address(proxy: EgressProxy, public: Site) -> None:
    lease = await proxy.register(policy_for(public))
    assert lease.username and lease.password
    connect = (
        f"CONNECT 127.0.0.1:{public.port} HTTP/1.1\r\nHost: 127.0.0.1:{public.port}\r\n"
        f"Proxy-Authorization: {basic(lease.username, lease.password)}\r\n\r\n"
    )
    async with await anyio.connect_tcp(lease.host, lease.port) as stream:
        await stream.send(connect.encode())
        with anyio.fail_after(10):
            assert status(await stream.receive()) == 200
            await lease.close()
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                while True:
                    await stream.receive()


async def test_a_browser_with_wrong_credentials_loads_nothing(
    proxy: EgressProxy, public: Site, chromium: FoundBrowser
) -> None:
    lease = await proxy.register(policy_for(public))
    public.requests.clear()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium.executable, args=chromium_args())
        try:
            for password in ("wrong", None):
                options = context_options(lease)
                options["proxy"] = {**options["proxy"], "password": password or ""}
                if password is None:
                    del options["proxy"]["username"], options["proxy"]["password"]
                context = await browser.new_context(**options)
                page = await context.new_page()
                try:  # Chromium shows the proxy's 407 as the page, or gives up on the credentials
                    response = await page.goto(public.url(PAGE), timeout=15_000)
                    assert response is not None and response.status == 407
                except PlaywrightError as exc:
                    assert "ERR_" in str(exc)
                await context.close()
            assert public.requests == []
            context = await browser.new_context(**context_options(lease))  # the positive control
            page = await context.new_page()
            await page.goto(public.url(PAGE), timeout=15_000)
            assert public.requests == [("GET", PAGE)]
            await context.close()
        finally:
            await browser.close()
    await lease.close()


async def test_an_address_the_proxy_cannot_listen_on_stops_it_naming_the_setting() -> None:
    taken = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = taken.extra(SocketAttribute.local_port)
    try:
        with pytest.raises(InternalError, match=rf"cannot listen on 127\.0\.0\.1:{port} \(BROWSA_EGRESS_LISTEN\)"):
            async with EgressProxy(listen=("127.0.0.1", port)):
                pass
    finally:
        await taken.aclose()
