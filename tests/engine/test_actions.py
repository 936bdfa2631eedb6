"""Actions on real Chromium against local sites: each found by reading the observation, as the model would."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from http.server import SimpleHTTPRequestHandler
from urllib.parse import parse_qs

import pytest

from mcp_browsa.engine import actions
from mcp_browsa.engine.action_specs import ACTION_NAMES, ACTION_SPECS
from mcp_browsa.engine.actions import ActionResult, execute
from mcp_browsa.engine.observation import MASK, Observation, observe
from mcp_browsa.engine.tabs import Tabs
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


def index_of(obs: Observation, pattern: str) -> int:
    hits = [int(m.group(1)) for m in re.finditer(r"^\[(\d+)\] (.*)$", obs.text, re.M) if re.search(pattern, m.group(2))]
    assert len(hits) == 1, f"{pattern!r} matched {hits} in\n{obs.text}"
    return hits[0]


async def act(tabs: Tabs, name: str, **args: object) -> tuple[ActionResult, Observation]:
    """Observe, run one action, and hand back its result with the next observation."""
    result = await execute(tabs, await observe(tabs), name, dict(args))
    return result, await observe(tabs)


async def test_specs_name_every_action_with_a_schema() -> None:
    assert ACTION_NAMES == (
        "navigate", "click", "type", "select", "press", "scroll", "go_back", "switch_tab", "wait", "read_page",
        "ask_human", "done",
    )  # fmt: skip
    for spec in ACTION_SPECS:
        assert set(spec) == {"name", "description", "parameters"}
        assert spec["parameters"]["type"] == "object" and len(spec["description"]) < 120


async def test_search_open_a_result_and_read_its_price(tabs: Tabs, site: Site) -> None:
    result, obs = await act(tabs, "navigate", url=site.url("/agent/search.html"))
    assert result.ok and result.navigated and obs.title == "Shop — search"

    box = index_of(obs, r"^<input name=q type=search")
    result = await execute(tabs, obs, "type", {"index": box, "text": "wireless earbuds", "submit": True})
    assert result.ok and result.navigated, result
    typed = f'typed "wireless earbuds" into [{box}] <input name=q> and pressed Enter'
    assert result.summary == f"{typed} → /agent/results.html?q=wireless+earbuds"

    obs = await observe(tabs)
    link = index_of(obs, r"Wireless Earbuds X — \$39\.99$")
    result = await execute(tabs, obs, "click", {"index": link})
    assert result.ok and result.navigated
    assert result.summary == f"clicked [{link}] <a> Wireless Earbuds X — $39.99 → /agent/product.html?id=101"

    obs = await observe(tabs)
    assert obs.title == "Wireless Earbuds X" and "Price: $39.99" in obs.text
    read = await execute(tabs, obs, "read_page", {"instruction": "the price"})
    assert read.ok and read.extracted is not None and "Price: $39.99" in read.extracted

    back, obs = await act(tabs, "go_back")
    assert back.ok and back.navigated and obs.url.endswith("/agent/results.html?q=wireless+earbuds")


async def test_form_is_filled_and_submitted_with_a_vaulted_secret(tabs: Tabs, site: Site) -> None:
    received: list[dict[str, list[str]]] = []

    def submit(handler: SimpleHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        received.append(parse_qs(handler.rfile.read(length).decode()))
        body = b"<!doctype html><title>Thanks</title><p>Message received.</p>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    site.routes["/agent/submit"] = submit
    secret = "pa55-w0rd-xyz"
    await tabs.active.goto(site.url("/agent/form.html"))
    obs = await observe(tabs)

    def run(name: str, **args: object) -> Awaitable[ActionResult]:
        vault = {"SITE_PW": secret}
        return execute(tabs, obs, name, dict(args), resolve_secret=vault.__getitem__, mask_values=[secret])

    assert (await run("type", index=index_of(obs, "name=name "), text="Ada Lovelace")).ok
    assert (await run("type", index=index_of(obs, "type=email"), text="ada@example.org")).ok
    typed = await run("type", index=index_of(obs, "type=password"), text="{{secret:SITE_PW}}")
    assert typed.ok and secret not in typed.summary
    assert "{{secret:SITE_PW}}" in typed.summary
    missing = await run("type", index=1, text="{{secret:NOPE}}")
    assert not missing.ok and missing.error == "there is no secret named NOPE"
    no_vault = await execute(tabs, obs, "type", {"index": 1, "text": "{{secret:SITE_PW}}"})
    assert not no_vault.ok and "no stored secrets" in (no_vault.error or "")
    # A secret typed into a plain field is masked in the next observation.
    assert (await run("type", index=index_of(obs, "textarea"), text="my code is {{secret:SITE_PW}}")).ok
    chosen = await run("select", index=index_of(obs, "^<select name=country"), option="FRANCE")
    assert chosen.ok and chosen.summary.startswith('selected "France" in')
    assert (await run("click", index=index_of(obs, "type=checkbox"))).ok

    after = await observe(tabs, mask_values=[secret])
    assert secret not in after.text
    assert index_of(after, rf'^<textarea name=message value="my code is {MASK}" placeholder="Message">$')
    assert index_of(after, rf'^<input name=password type=password label="Password" value="{MASK}">$')
    assert index_of(after, r'^<select name=country label="Country" selected="France">')
    assert index_of(after, r"^<input name=newsletter type=checkbox label=\"Send me news\" checked>$")

    draft = await execute(tabs, after, "click", {"index": index_of(after, r"<button disabled> Draft")})
    assert not draft.ok and draft.error is not None and "disabled" in draft.error
    sent = await execute(tabs, after, "click", {"index": index_of(after, r"^<button> Send$")})
    assert sent.ok and sent.navigated, sent
    assert received == [
        {
            "name": ["Ada Lovelace"],
            "email": ["ada@example.org"],
            "password": [secret],
            "country": ["fr"],
            "newsletter": ["yes"],
            "message": [f"my code is {secret}"],
        }
    ]
    assert "Message received." in (await observe(tabs)).text


async def test_select_by_label_or_value_reorders_results(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/results.html?q=earbuds"))
    obs = await observe(tabs)
    sort = index_of(obs, "^<select name=sort")

    result = await execute(tabs, obs, "select", {"index": sort, "option": "price: high to low"})
    assert result.ok, result
    obs = await observe(tabs)
    assert index_of(obs, "Wireless Earbuds Pro") < index_of(obs, "Wireless Earbuds X") < index_of(obs, "Wired Earbuds")

    result = await execute(tabs, obs, "select", {"index": sort, "option": "PRICE-ASC"})
    obs = await observe(tabs)
    assert result.ok and "(price-asc)" in obs.text

    wrong = await execute(tabs, obs, "select", {"index": sort, "option": "cheapest"})
    assert not wrong.ok and wrong.error is not None
    assert "'cheapest' is not an option" in wrong.error and "Relevance | Price: low to high" in wrong.error
    not_select = await execute(tabs, obs, "select", {"index": index_of(obs, "Cart"), "option": "x"})
    assert not not_select.ok and "not a <select>" in (not_select.error or "")


async def test_buttons_in_iframes_and_shadow_roots_click_through_their_index(tabs: Tabs, site: Site) -> None:
    page = tabs.active
    await page.goto(site.url("/agent/frames.html"))
    await page.frame_locator("#cross").locator("button").wait_for()
    obs = await observe(tabs)
    for pattern in (r"Frame button \(same-origin\)", r"Frame button \(cross-origin\)", r"Shadow button"):
        result = await execute(tabs, obs, "click", {"index": index_of(obs, pattern)})
        assert result.ok, result
    text = (await observe(tabs)).text
    assert "same-origin frame button clicked" in text
    assert "cross-origin frame button clicked" in text
    assert "shadow button clicked" in text


async def test_widgets_without_native_semantics(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/widgets.html"))
    obs = await observe(tabs)
    assert (await execute(tabs, obs, "click", {"index": index_of(obs, "^<summary> More details$")})).ok
    assert (await execute(tabs, obs, "click", {"index": index_of(obs, "^<div> Clickable tile$")})).ok
    typed = await execute(tabs, obs, "type", {"index": index_of(obs, "contenteditable"), "text": "Rewritten"})
    assert typed.ok, typed
    obs = await observe(tabs)
    assert "Hidden until opened" in obs.text
    assert index_of(obs, "^<div> tile clicked$") and index_of(obs, "^<div contenteditable> Rewritten$")


async def test_a_covered_element_is_clicked_through_script(
    tabs: Tabs, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "_ACT_TIMEOUT_MS", 300)  # how long Playwright insists before the fallback
    await tabs.active.goto(site.url("/agent/overlay.html"))
    obs = await observe(tabs)
    result = await execute(tabs, obs, "click", {"index": index_of(obs, "Continue")})
    assert result.ok and result.summary.endswith("<button> Continue (by script: it was covered)"), result
    assert "covered button clicked" in (await observe(tabs)).text


async def test_new_tabs_are_followed_and_switchable(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/newtab.html"))
    obs = await observe(tabs)

    result = await execute(tabs, obs, "click", {"index": index_of(obs, "target=_blank")})
    assert result.ok and result.navigated, result
    assert result.summary.endswith("; new tab 1 opened and is now active: /agent/product.html?id=102")
    obs = await observe(tabs)
    assert len(tabs) == 2 and tabs.active_index == 1 and obs.title == "Wireless Earbuds Pro"
    assert "TABS: 2 (active 1): 0 /agent/newtab.html | 1 /agent/product.html?id=102" in obs.text

    result, obs = await act(tabs, "switch_tab", tab=0)
    assert result.ok and obs.title == "Links that open tabs"
    # A script's window.open gives no sign beforehand; Tabs follows it whenever the browser reports it.
    async with tabs.context.expect_page() as opened:
        result = await execute(tabs, obs, "click", {"index": index_of(obs, "Open headphones window")})
    assert result.ok
    popup = await opened.value
    assert tabs.active is popup and tabs.active_index == 2
    await popup.wait_for_load_state()
    assert (await observe(tabs)).title == "Over-ear Headphones"

    bad, _ = await act(tabs, "switch_tab", tab=7)
    assert not bad.ok and bad.error == "no tab 7; tabs go 0..2"

    await tabs.active.close()
    assert len(tabs) == 2 and tabs.active_index == 0  # back to the tab that was active before


async def test_dialogs_are_answered_and_reported(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/newtab.html"))
    obs = await observe(tabs)
    result = await execute(tabs, obs, "click", {"index": index_of(obs, "Save")})
    assert result.ok
    assert "DIALOG: alert 'Saved!'" in (await observe(tabs)).text


async def test_pagination_by_clicking_next(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/list.html"))
    obs = await observe(tabs)
    for page in (2, 3):
        result = await execute(tabs, obs, "click", {"index": index_of(obs, "Next »")})
        assert result.ok and result.navigated
        obs = await observe(tabs)
        assert f"Orders, page {page} of 3" in obs.text
    assert "Next »" not in obs.text and f"Order #{11}" in obs.text


async def test_errors_the_model_can_act_on(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/search.html"))
    obs = await observe(tabs)

    missing = await execute(tabs, obs, "click", {"index": 42})
    assert not missing.ok and missing.error == f"no element [42] on this page; indices go 1..{obs.element_count}"
    bad = await execute(tabs, obs, "click", {"index": "first"})
    assert not bad.ok and bad.error == "click: index: 'first' is not of type 'integer'"
    lenient = await execute(tabs, obs, "click", {"index": "[1]", "reason": "cart"})
    assert lenient.ok and lenient.summary.startswith("clicked [1] <a> Cart (2)")
    unknown = await execute(tabs, obs, "fly", {})
    assert not unknown.ok and "use one of navigate, click" in (unknown.error or "")
    refused = await execute(tabs, obs, "navigate", {"url": "file:///etc/passwd"})
    assert not refused.ok and "only http and https" in (refused.error or "")
    gone = await execute(tabs, obs, "click", {"index": 1})  # obs is from the page we left
    assert not gone.ok and "no longer on the" in (gone.error or "")
    for loop_action in ("ask_human", "done"):
        with pytest.raises(ValueError, match="agent loop"):
            await execute(tabs, obs, loop_action, {})


async def test_press_scroll_and_wait(tabs: Tabs, site: Site) -> None:
    await tabs.active.goto(site.url("/agent/search.html"))
    obs = await observe(tabs)
    await tabs.active.focus("input[name=q]")
    await tabs.active.keyboard.type("charger")
    pressed = await execute(tabs, obs, "press", {"key": "Enter"})
    assert pressed.ok and pressed.navigated and pressed.summary == "pressed Enter → /agent/results.html?q=charger"
    nokey = await execute(tabs, obs, "press", {"key": "NoSuchKey"})
    assert not nokey.ok and "NoSuchKey" in (nokey.error or "")

    up = await execute(tabs, obs, "scroll", {"direction": "up"})
    assert up.ok and up.summary == "did not move: the page fits on one screen"
    await tabs.active.goto(site.url("/agent/long.html"))
    obs = await observe(tabs)
    up = await execute(tabs, obs, "scroll", {"direction": "up"})
    assert up.ok and re.fullmatch(r"did not move: already at the top \(0% of \d+\.\d screens\)", up.summary)
    down = await execute(tabs, obs, "scroll", {"direction": "down", "amount": "0.5"})
    assert down.ok and re.fullmatch(r"scrolled down 0\.5 screen\(s\), now at \d+% of \d+\.\d screens", down.summary)
    waited = await execute(tabs, obs, "wait", {"seconds": 0.05})
    assert waited.ok and waited.summary == "waited 0.05s"
