"""Fixtures for the end-to-end safety tests: a "public" site, "private" servers, and a stdio server whose log is kept.

The public site's port is exempted with BROWSA_ALLOW_PRIVATE_NETWORK, as an operator would for a local dev
server; the private servers listen on other loopback ports and addresses and must never see a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client

from tests.support.fake_llm import FakeLLM
from tests.support.guard_pages import add_guard_pages
from tests.support.login_site import LoginLog, add_login_pages
from tests.support.sites import Site, serve_site
from tests.support.vault_server import exempt, vault_server
from tests.support.websocket_site import WebSocketSite, serve_websockets
from tests.webhooks.receiver import Receiver, serve_receiver

__all__ = ["PASSWORD", "USERNAME", "Stack"]

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


@pytest.fixture(scope="package")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, public: Site, cdn: Site, hooks: Receiver, sockets: WebSocketSite
) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("safety-home")
    log = home.parent / "safety-server.log"
    logins = add_login_pages(public, USERNAME, PASSWORD, exfil_to=cdn.url("/steal"))
    secrets = {"site_username": USERNAME, "site_password": PASSWORD}
    # Only `public` (by address and by name), `cdn`, the WebSocket server and the webhook endpoint count as public.
    others = (f"localhost:{public.port}", f"127.0.0.1:{sockets.port}", f"127.0.0.1:{hooks.port}")
    with FakeLLM() as fake:
        env = {
            "BROWSA_ALLOW_PRIVATE_NETWORK": exempt(public, cdn, extra=others),
            "BROWSA_LOG_LEVEL": "DEBUG",
            "ANTHROPIC_API_KEY": "sk-ant-test",
        }
        async with vault_server(home, secrets, log=log, **env, **fake.env()) as client:
            yield Stack(client, home, log, fake, hooks, logins)
