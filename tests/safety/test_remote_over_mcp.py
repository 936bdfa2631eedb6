"""A server on remote browsers (BROWSA_BROWSER_WS) over MCP, beyond the URL guard: a persistent identity keeps its
sign-in from one job to the next, and what needs a Chromium of the server's own (a CDP URL) is refused, costing nothing.
"""

from __future__ import annotations

import pytest
from mcp import Client

from tests.safety.conftest import Stack
from tests.support.mcp_server import call, envelope, ok
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

ARTICLE = "/foundation/article.html"


@pytest.fixture
def client(remote_stack: Stack) -> Client:
    return remote_stack.client


async def balance(client: Client) -> int:
    return int(ok(await call(client, "credits", {}))["balance"])


async def test_what_needs_a_cdp_url_is_refused_clearly_and_costs_nothing(client: Client, public: Site) -> None:
    before = await balance(client)
    refused = envelope(await call(client, "open_session", {"initial_url": public.url(ARTICLE), "cdp": True}))
    assert refused["code"] == "BAD_REQUEST", refused
    assert "BROWSA_BROWSER_WS" in refused["error"] and "without cdp" in refused["error"]
    refused = envelope(await call(client, "create_identity", {"mode": "burner"}))
    assert refused["code"] == "BAD_REQUEST", refused
    assert "BROWSA_BROWSER_WS" in refused["error"] and "mode='persistent'" in refused["error"]
    assert await balance(client) == before
    # The same session without cdp opens, on a remote browser.
    opened = ok(await call(client, "open_session", {"initial_url": public.url(ARTICLE)}))
    assert "cdp_url" not in opened and "Field notes on headless browsers" in opened["observation"], opened
    ok(await call(client, "close_session", {"session_id": opened["session_id"]}))


async def test_a_persistent_identity_keeps_its_sign_in_across_jobs_on_remote_browsers(
    client: Client, public: Site
) -> None:
    identity = ok(await call(client, "create_identity", {"persona": "remote regular"}))
    assert identity["mode"] == "persistent" and identity["status"] == "running", identity
    logged = ok(
        await call(client, "login", {"service": "site", "url": public.url("/login"), "identity_id": identity["id"]})
    )
    assert logged["status"] == "completed" and logged["result"]["logged_in"] is True, logged
    # A new job, a new remote context: the identity's cookies are restored into it.
    opened = ok(
        await call(client, "open_session", {"identity_id": identity["id"], "initial_url": public.url("/account")})
    )
    assert (opened["url"] or "").endswith("/account"), opened
    ended = ok(await call(client, "close_session", {"session_id": opened["session_id"]}))
    assert ended["state_saved"] is True
