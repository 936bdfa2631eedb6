"""A field filled from the vault on real Chromium: typed server-side, drawn as dots, masked in every later observation.

Screenshots are pixels the masks cannot reach, so the field itself must not draw the value, and nothing else on the
page may show it while one is taken.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from playwright.async_api import Browser, async_playwright

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.engine.actions import execute
from mcp_browsa.engine.observation import observe
from mcp_browsa.engine.screenshots import capture
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.workspace_secrets import mask_variants
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

USER = "ada+secret@example.com"
VAULT = {"shop_username": USER}


@pytest.fixture
async def tabs(chromium: FoundBrowser) -> AsyncIterator[Tabs]:
    async with async_playwright() as p:
        browser: Browser = await p.chromium.launch(
            executable_path=chromium.executable, args=chromium_args(), headless=True
        )
        context = await browser.new_context()
        tracked = await Tabs.create(context)
        yield tracked
        tracked.close()
        await browser.close()


def index_of(text: str, pattern: str) -> int:
    match = re.search(rf"^\[(\d+)\] .*{pattern}", text, re.M)
    assert match, text
    return int(match.group(1))


def page(body: str) -> Callable[[Any], None]:
    def route(h: Any) -> None:
        query = h.path.partition("?")[2]
        data = body.replace("QUERY", query).encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


async def test_a_text_field_filled_from_the_vault_never_shows_the_value(tabs: Tabs, site: Site) -> None:
    site.routes["/form"] = page("<form action=/echo><input name=login><input name=other><button>Search</button></form>")
    site.routes["/echo"] = page("<p>You searched for QUERY</p>")
    await tabs.active.goto(site.url("/form"))
    masks = mask_variants(VAULT.values())
    obs = await observe(tabs, mask_values=masks)
    field = index_of(obs.text, "name=login")
    typed = await execute(
        tabs, obs, "type", {"index": field, "text": "{{secret:shop_username}}"}, resolve_secret=VAULT.__getitem__
    )
    assert typed.ok and USER not in typed.summary
    login = tabs.active.locator("input[name=login]")
    assert await login.input_value() == USER  # the page has it
    assert await login.evaluate("el => getComputedStyle(el).webkitTextSecurity") == "disc"  # its pixels do not
    other = tabs.active.locator("input[name=other]")
    assert await other.evaluate("el => getComputedStyle(el).webkitTextSecurity") == "none"
    after = await observe(tabs, mask_values=masks)
    assert USER not in after.text and 'value="••••"' in after.text
    # Submitted with GET, the value comes back in the URL and in the page: both masked.
    sent = await execute(tabs, after, "press", {"key": "Enter"}, mask_values=masks)
    assert sent.ok
    landed = await observe(tabs, mask_values=masks)
    assert "/echo?login=" in landed.url and USER not in landed.text and quote_plus(USER) not in landed.text
    assert "You searched for login=••••" in landed.text


ECHO_PAGE = """<form><input name=login><p id=echo></p></form><script>
const field = document.querySelector('input'), echo = document.getElementById('echo');
field.addEventListener('input', () => { echo.textContent = 'Signed in as ' + field.value; echo.title = field.value; });
// What the page's own text was at each change: the masking before a capture, and the restoring after it.
window.seen = [];
new MutationObserver(() => window.seen.push(document.body.innerText))
  .observe(document.body, {subtree: true, characterData: true, childList: true, attributes: true});
</script>"""


async def test_a_screenshot_never_shows_a_secret_the_page_echoes(tabs: Tabs, site: Site, tmp_path: Path) -> None:
    site.routes["/echo-form"] = page(ECHO_PAGE)
    await tabs.active.goto(site.url("/echo-form"))
    masks = mask_variants(VAULT.values())
    obs = await observe(tabs, mask_values=masks)
    typed = await execute(
        tabs, obs, "type", {"index": index_of(obs.text, "name=login"), "text": "{{secret:shop_username}}"},
        resolve_secret=VAULT.__getitem__,
    )  # fmt: skip
    assert typed.ok
    shown = tabs.active
    assert f"Signed in as {USER}" in await shown.inner_text("body")
    await shown.evaluate("window.seen = []")

    await capture(shown, tmp_path / "plain.png", full_page=True, timeout_ms=10_000)
    await shown.evaluate("window.seen = []")
    await capture(shown, tmp_path / "masked.png", full_page=True, timeout_ms=10_000, mask_values=masks)

    *during, after = await shown.evaluate("window.seen")  # the masking, Playwright's own styles, the restoring
    assert during and all(USER not in text and "Signed in as ••••" in text for text in during), during
    assert (tmp_path / "masked.png").read_bytes() != (tmp_path / "plain.png").read_bytes()
    # Put back as it was: the text, the attribute, and the value the form will send.
    assert f"Signed in as {USER}" in after
    assert await shown.get_attribute("#echo", "title") == USER
    assert await shown.input_value("input[name=login]") == USER
