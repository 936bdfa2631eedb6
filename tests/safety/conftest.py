"""Fixtures for the end-to-end safety tests: a "public" site, "private" servers, and a stdio server whose log is kept.

The public site's port is exempted with BROWSA_ALLOW_PRIVATE_NETWORK, as an operator would for a local dev
server; the private servers listen on other loopback ports and addresses and must never see a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client

from mcp_browsa.browser.discovery import FoundBrowser
from tests.support.fake_llm import FakeLLM
from tests.support.guard_pages import add_guard_pages
from tests.support.login_site import LoginLog, add_login_pages
from tests.support.remote_browsers import free_port, playwright_server
from tests.support.sites import Site, serve_site
from tests.support.vault_server import exempt, vault_server
from tests.support.websocket_site import WebSocketSite, serve_websockets
from tests.webhooks.receiver import Receiver, serve_receiver

__all__ = ["PASSWORD", "USERNAME", "Stack", "serve_stack"]

USERNAME = "grace.hopper+vault@example.com"
PASSWORD = "open sesame&cobol=1959!"  # spaces, & and = take other spellings in URLs and form bodies


@dataclass
class Stack:
    """One stdio server for the package, and everything around it."""

    client: Client
    home: Path
    log: Path  # the server's stderr, at DEBUG
    fake: FakeLLM  # the LLM vendor the server talks to
    hooks: Receiver  # a webhook endpoint (public too)
    logins: LoginLog  # what the login pages on `public` received


@pytest.fixture(scope="package")
def public() -> Iterator[Site]:
    with serve_site("127.0.0.1") as site:
        add_guard_pages(site)
        yield site


@pytest.fixture(scope="package")
def cdn() -> Iterator[Site]:
    """A second public host (127.0.0.2, exempted too), for allowed_domains to tell apart from the first."""
    with serve_site("127.0.0.2") as site:
        yield site


@pytest.fixture(scope="package")
def private() -> Iterator[Site]:
    """Loopback, not exempted: what an attacker would like the browser to reach."""
    with serve_site("127.0.0.1") as site:
        yield site


@pytest.fixture(scope="package")
def private_other() -> Iterator[Site]:
    """Another loopback address (127.0.0.2), not exempted either."""
    with serve_site("127.0.0.2") as site:
        yield site


@pytest.fixture(scope="package")
def sockets() -> Iterator[WebSocketSite]:
    """A public WebSocket echo server (exempted too)."""
    with serve_websockets("127.0.0.1") as site:
        yield site


@pytest.fixture(scope="package")
def hooks() -> Iterator[Receiver]:
    with serve_receiver() as receiver:
        yield receiver


@dataclass
class Around:
    """What every stack serves against: the sites, the webhook endpoint, and the login pages on `public`."""

    public: Site
    cdn: Site
    hooks: Receiver
    sockets: WebSocketSite
    logins: LoginLog


@pytest.fixture(scope="package")
def around(public: Site, cdn: Site, hooks: Receiver, sockets: WebSocketSite) -> Around:
    logins = add_login_pages(public, USERNAME, PASSWORD, exfil_to=cdn.url("/steal"))
    return Around(public, cdn, hooks, sockets, logins)


@asynccontextmanager
async def serve_stack(home: Path, around: Around, **env: str) -> AsyncIterator[Stack]:
    """The stdio server on `home` with the vault filled in; `env` adds to its environment."""
    log = home.parent / f"{home.name}-server.log"
    secrets = {"site_username": USERNAME, "site_password": PASSWORD}
    public, cdn = around.public, around.cdn
    # Only `public` (by address and by name), `cdn`, the WebSocket server and the webhook endpoint count as public.
    others = (f"localhost:{public.port}", f"127.0.0.1:{around.sockets.port}", f"127.0.0.1:{around.hooks.port}")
    with FakeLLM() as fake:
        env = {
            "BROWSA_ALLOW_PRIVATE_NETWORK": exempt(public, cdn, extra=others),
            "BROWSA_LOG_LEVEL": "DEBUG",
            "ANTHROPIC_API_KEY": "sk-ant-test",
            **env,
        }
        async with vault_server(home, secrets, log=log, **env, **fake.env()) as client:
            yield Stack(client, home, log, fake, around.hooks, around.logins)


@pytest.fixture(scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory, around: Around) -> AsyncIterator[Stack]:
    async with serve_stack(tmp_path_factory.mktemp("safety-home"), around) as running:
        yield running


@pytest.fixture(scope="package")
async def remote_stack(
    tmp_path_factory: pytest.TempPathFactory, chromium: FoundBrowser, around: Around
) -> AsyncIterator[Stack]:
    """The same server on a remote Playwright server, its egress proxy on a shared address with credentials."""
    assert chromium.executable is not None
    home = tmp_path_factory.mktemp("safety-remote")
    with playwright_server(chromium.executable) as ws:
        listen = f"127.0.0.1:{free_port()}"
        async with serve_stack(home, around, BROWSA_BROWSER_WS=ws, BROWSA_EGRESS_LISTEN=listen) as running:
            yield running
        # The positive control: the work ran on the remote browser, not on one the server launched itself.
        assert "connected to remote browser ws://127.0.0.1:" in running.log.read_text()
