"""A running identity has a live view too: a burner driven by the user's own Playwright over CDP is watched
(its page and address follow what the script does), and its view ends with it."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from mcp_browsa.app import Browsa
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE as WS
from tests.identities.test_burners import spec
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_a_burner_identity_is_watched_live_and_its_view_ends_with_it(
    app: Browsa, shop: Site, person: Page
) -> None:
    agent = await app.identities.create(WS, spec(mode="burner", ttl="5m"))
    assert agent.status == "running" and agent.live_url is not None and agent.cdp_url is not None
    assert (await app.identities.get(WS, agent.id)).live_url == agent.live_url
    await person.goto(agent.live_url)
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(agent.cdp_url)
        page = browser.contexts[0].pages[0] if browser.contexts[0].pages else await browser.contexts[0].new_page()
        await page.goto(shop.url("/live/form.html"))
        await person.wait_for_function(
            "(u) => document.getElementById('url').textContent === u", arg=shop.url("/live/form.html")
        )
        await person.wait_for_function("() => Number(document.getElementById('screen').dataset.frames || 0) > 0")
        await browser.close()
    gone = await app.identities.destroy(WS, agent.id)
    assert gone.status == "destroyed" and gone.live_url is None
    async with httpx.AsyncClient() as client:
        assert (await client.get(agent.live_url)).status_code == 410
    await person.wait_for_function("() => document.getElementById('status').textContent.includes('ended')")
