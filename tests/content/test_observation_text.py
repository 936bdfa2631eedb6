"""What a reader of the observation gets on real-looking pages: links in their sentences, tables as rows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from mcp_browsa.browser.discovery import FoundBrowser, chromium_args
from mcp_browsa.engine.actions import execute
from mcp_browsa.engine.observation import DEFAULT_MAX_CHARS, observe
from mcp_browsa.engine.tabs import Tabs
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

ROW = re.compile(r"^\[(\d+)\]\[(\d+)\] \| (.+) \| \[(USA|Europe|Japan)\]\[(\d+)\]$", re.M)


@pytest.fixture(scope="module")
async def browser(chromium: FoundBrowser) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium.executable, args=chromium_args(), headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[Tabs]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    tracked = await Tabs.create(context)
    yield tracked
    tracked.close()
    await context.close()


async def test_link_text_stays_in_its_sentence_with_its_index(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/content/sphinx.html"))
    obs = await observe(tabs)
    text = obs.text.split("\nTEXT:\n", 1)[1]
    m = re.search(r"^While \[The Python Language Reference\]\[(\d+)\] describes the exact syntax and", text, re.M)
    assert m, text
    ref = obs.elements[int(m.group(1))]
    assert ref.tag == "a" and ref.attrs["href"] == "/content/reference.html#reference-index"
    assert "without the need of an [import][" in text and "See [PEP 11][" in text
    assert "While describes" not in obs.text
    # Code keeps the spaces between its tokens and its lines; a table's cells share their row's line.
    assert ">>> import sys\n>>> sys.platform\n'linux'" in text
    assert "Platform | sys.platform\nLinux | 'linux'\nmacOS | 'darwin'" in text
    # Links that stand alone (a menu) are still element lines, with their address.
    assert re.search(r"^\[\d+\] <a href=/content/genindex.html> index$", obs.text, re.M)


async def test_a_hundred_row_table_shows_most_rows_and_every_link_is_reachable(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/content/datasette.html"))
    obs = await observe(tabs)
    assert obs.chars <= DEFAULT_MAX_CHARS
    rows = ROW.findall(obs.text)
    assert len(rows) >= 40, obs.text
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))  # in order, none skipped
    for rowid, index, _cells, origin, origin_index in rows:
        assert obs.elements[int(index)].attrs["href"] == f"/vega/cars/{rowid}"
        assert obs.elements[int(origin_index)].text == origin
    assert "| chevrolet chevelle malibu | " in obs.text
    assert "[Link][" in obs.text and "| [Origin][" in obs.text  # the header row, its sort links inline
    assert "This data as [json][" in obs.text and "], [CSV][" in obs.text
    assert re.search(r"^… \d+ more text lines below, scroll down$", obs.text, re.M)

    # An index read inline acts like any other.
    row_link = int(rows[2][1])
    result = await execute(tabs, obs, "click", {"index": row_link})
    assert result.ok, result
    assert tabs.active.url == site.url("/vega/cars/3")


async def test_the_rest_of_the_table_is_reached_by_scrolling(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/content/datasette.html"))
    obs = await observe(tabs)
    seen = {int(r[0]) for r in ROW.findall(obs.text)}
    for _ in range(12):
        if 100 in seen:
            break
        assert (await execute(tabs, obs, "scroll", {"direction": "down", "amount": 2})).ok
        obs = await observe(tabs)
        seen |= {int(r[0]) for r in ROW.findall(obs.text)}
    assert seen == set(range(1, 101))
