"""The page observation on real Chromium: format, frames and shadow roots, the size budget, masking, speed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Frame

from mcp_browsa.engine.actions import execute
from mcp_browsa.engine.observation import DEFAULT_MAX_CHARS, MASK, Observation, observe, read_page
from mcp_browsa.engine.tabs import Tabs
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


def line_of(obs: Observation, pattern: str) -> tuple[int, str]:
    """Index and text of the one element line matching `pattern`."""
    hits = [
        (int(m.group(1)), m.group(0))
        for m in re.finditer(r"^\[(\d+)\] (.*)$", obs.text, re.M)
        if re.search(pattern, m.group(2))
    ]
    assert len(hits) == 1, f"{pattern!r} matched {hits} in\n{obs.text}"
    return hits[0]


async def test_search_results_are_compact_lines_with_key_attributes(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/results.html?q=earbuds"))
    obs = await observe(tabs)

    lines = obs.text.splitlines()
    assert lines[0] == f"URL: {site.url('/agent/results.html?q=earbuds')}"
    assert lines[1:4] == ["TITLE: Search results", "TABS: 1 (active 0)", "SCROLL: 0% of 1.0 screens"]
    line_of(obs, r"^<a href=/agent/cart.html> Cart \(2\)$")
    line_of(obs, r'^<input name=q type=search value="earbuds">$')
    line_of(
        obs,
        r'^<select name=sort label="Sort" selected="Relevance"> Relevance \| Price: low to high \| Price: high to low$',
    )
    index, _ = line_of(obs, r"^<a href=/agent/product.html\?id=101> Wireless Earbuds X — \$39.99$")
    assert obs.text.endswith('TEXT:\nShowing 3 results for "earbuds" (relevance)')  # "Sort" is the select's label
    assert obs.element_count == len(obs.elements) == 7
    assert obs.elements[index].tag == "a"
    assert obs.elements[index].describe() == f"[{index}] <a> Wireless Earbuds X — $39.99"
    assert obs.chars == len(obs.text) < 1000
    assert obs.url == site.url("/agent/results.html?q=earbuds") and obs.title == "Search results"


async def test_every_index_resolves_to_its_element_through_one_locator(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/form.html"))
    obs = await observe(tabs)
    for ref in obs.elements.values():
        handle = ref.frame.locator(ref.selector)
        assert await handle.count() == 1
        assert await handle.evaluate("e => e.tagName.toLowerCase()") == ref.tag
    line_of(obs, r'^<input name=name label="Name" placeholder="Your name">$')
    line_of(obs, r"^<input name=newsletter type=checkbox label=\"Send me news\">$")
    line_of(obs, r"^<button disabled> Draft$")


async def test_script_driven_and_aria_widgets_count_and_hidden_ones_do_not(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/widgets.html"))
    obs = await observe(tabs)

    elements = re.findall(r"^\[\d+\] (.*)$", obs.text, re.M)
    assert elements == [
        "<div> Clickable tile",  # onclick
        "<span> Filter: red",  # a pointer cursor starting here: a script handler, most likely
        "<div role=tab selected> Overview",
        "<div role=tab> Reviews",
        "<summary> More details",
        "<div contenteditable> Edit me",
        "<button id=close-dialog>",  # icon only: the id is the hint
        '<div role=button aria-label="Notifications">',
    ]
    assert "Invisible" not in obs.text and "Flat" not in obs.text and "Far away" not in obs.text
    assert "token123" not in obs.text and "Hidden until opened" not in obs.text
    # The card's link reads in its sentence; its pointer-cursor card adds no line of its own.
    assert obs.text.endswith("TEXT:\n[Card link][2] and a caption")
    assert obs.elements[2].tag == "a" and obs.elements[2].attrs["href"] == "/agent/cart.html"


async def test_iframes_and_open_shadow_roots_in_reading_order(tabs: Tabs, site: Site) -> None:
    page = tabs.active
    await page.goto(site.url("/agent/frames.html"))
    await page.frame_locator("#cross").locator("button").wait_for()
    obs = await observe(tabs)

    same, _ = line_of(obs, r"^<button> Frame button \(same-origin\)$")
    cross, _ = line_of(obs, r"^<button> Frame button \(cross-origin\)$")  # the display:none frame adds nothing
    shadow, _ = line_of(obs, r"^<button> Shadow button$")
    assert same < cross < shadow
    assert obs.elements[cross].frame.url.startswith(f"http://localhost:{site.port}/")
    assert "Inside the shadow" in obs.text


async def test_budget_keeps_the_viewport_and_says_what_is_below(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/long.html"))
    obs = await observe(tabs, max_chars=3000)

    assert obs.chars <= 3000 and obs.element_count == 240
    assert "Directory entry number 1\n" in obs.text and "Directory entry number 240" not in obs.text
    more = re.search(r"^… (\d+) more elements below, scroll down$", obs.text, re.M)
    assert more is not None
    shown = len(re.findall(r"^\[\d+\] ", obs.text, re.M))
    assert shown + int(more.group(1)) == 240  # nothing dropped silently

    for _ in range(8):
        result = await execute(tabs, obs, "scroll", {"direction": "down", "amount": 2})
        assert result.ok, result
        obs = await observe(tabs, max_chars=3000)
    assert obs.chars <= 3000
    line_of(obs, r"> Directory entry number 240$")
    assert re.search(r"^… \d+ more elements above, scroll up$", obs.text, re.M)
    assert "End of the directory." in obs.text
    assert re.search(r"^SCROLL: 100% of \d+\.\d screens$", obs.text, re.M)


async def test_default_budget_on_a_dense_page(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/big.html"))
    obs = await observe(tabs)
    assert obs.chars <= 6000 and obs.element_count == 1000
    assert re.search(r"^… \d+ more elements below, scroll down$", obs.text, re.M)
    assert re.search(r"^… \d+ more text lines below, scroll down$", obs.text, re.M)


async def test_secrets_are_masked_everywhere_and_passwords_never_shown(tabs: Tabs, site: Site) -> None:
    secret = "s3cr3t-Tok3n"
    page = tabs.active
    await page.goto(site.url("/agent/form.html"))
    await page.fill("input[name=name]", f"me {secret}")
    await page.fill("input[name=password]", "hunter2-password")
    await page.evaluate(
        "s => { const p = document.createElement('p'); p.textContent = 'Your key is ' + s; document.body.append(p); }",
        secret,
    )
    await page.evaluate("s => document.title = 'Account ' + s", secret)

    obs = await observe(tabs, mask_values=[secret])
    assert secret not in obs.text and "hunter2" not in obs.text
    line_of(obs, rf'^<input name=name label="Name" value="me {MASK}" placeholder="Your name">$')
    line_of(obs, rf'^<input name=password type=password label="Password" value="{MASK}">$')
    assert f"Your key is {MASK}" in obs.text and f"TITLE: Account {MASK}" in obs.text

    unmasked = await observe(tabs)
    assert secret in unmasked.text and "hunter2" not in unmasked.text
    assert secret not in await read_page(tabs, mask_values=[secret])


async def test_one_evaluate_per_frame_even_on_a_thousand_elements(
    tabs: Tabs, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How fast it is on that page is `python -m bench observation`'s to say (agent/big.html), not a test's.
    calls: list[Frame] = []
    original = Frame.evaluate

    async def counting(self: Frame, expression: str, arg: Any = None) -> Any:
        calls.append(self)
        return await original(self, expression, arg)

    monkeypatch.setattr(Frame, "evaluate", counting)
    page = tabs.active
    await page.goto(site.url("/agent/big.html"))
    for _ in range(2):  # the first look, and a later one once the script is in the page
        calls.clear()
        obs = await observe(tabs)
        assert obs.element_count == 1000
        assert calls == [page.main_frame]

    await page.goto(site.url("/agent/frames.html"))
    await page.frame_locator("#cross").locator("button").wait_for()
    calls.clear()
    await observe(tabs)
    assert sorted(map(id, calls)) == sorted(map(id, page.frames)) and len(calls) == 4


async def test_pages_that_bend_json_stringify_are_still_read(tabs: Tabs, site: Site) -> None:
    page = tabs.active
    await page.goto(site.url("/agent/search.html"))
    # As with old Prototype.js: arrays serialise as strings.
    await page.evaluate("() => { Array.prototype.toJSON = function () { return String(this.length); }; }")
    assert "<button> Search" in (await observe(tabs)).text
    await page.evaluate("() => { JSON.stringify = () => 'nope'; }")
    assert "<button> Search" in (await observe(tabs)).text


async def test_page_hash_tracks_changes(tabs: Tabs, site: Site) -> None:
    page = tabs.active
    await page.goto(site.url("/agent/search.html"))
    first, again = await observe(tabs), await observe(tabs)
    assert first.page_hash == again.page_hash
    await page.fill("input[name=q]", "earbuds")
    assert (await observe(tabs)).page_hash != first.page_hash


async def test_read_page_returns_all_visible_text_including_frames(tabs: Tabs, site: Site) -> None:
    page = tabs.active
    await page.goto(site.url("/agent/long.html"))
    text = await read_page(tabs)
    assert "Directory entry number 1\n" in text and "Directory entry number 240" in text
    short = await read_page(tabs, max_chars=500)
    assert len(short) <= 500 and short.endswith("more chars)")

    await page.goto(site.url("/agent/frames.html"))
    await page.frame_locator("#cross").locator("button").wait_for()
    text = await read_page(tabs)
    assert "Frame button (same-origin)" in text and "Frame button (cross-origin)" in text
    assert "Shadow button" in text and "Inside the shadow" in text


# -- what a reader gets on real-looking pages: links in their sentences, tables as rows ---------------------

ROW = re.compile(r"^\[(\d+)\]\[(\d+)\]\|(.+)\|\[(USA|Europe|Japan)\]\[(\d+)\]$", re.M)


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
    assert "Platform|sys.platform\nLinux|'linux'\nmacOS|'darwin'" in text
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
    assert "|chevrolet chevelle malibu|" in obs.text
    assert "[Link][" in obs.text and "|[Origin][" in obs.text  # the header row, its sort links inline
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
