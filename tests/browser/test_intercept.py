"""The in-browser request guard over CDP Fetch: the HTTP cache stays on, and writes from workers and
out-of-process iframes are refused in the browser before the proxy ever sees them."""

from __future__ import annotations

from http.server import SimpleHTTPRequestHandler

import anyio
import pytest
from playwright.async_api import Browser

from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.browser.intercept import skip_media
from tests.browser import test_guard
from tests.browser.test_guard import exempt, guarded, open_page, thank_you
from tests.support.sites import Site, respond

pytestmark = pytest.mark.anyio

# The guard tests' module-wide browser and proxy, shared rather than launched twice.
browser = test_guard.browser
proxy = test_guard.proxy

_STYLE = b"body { color: #123456 }"


def cached_style(request: SimpleHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "text/css")
    request.send_header("Cache-Control", "max-age=3600")
    request.send_header("Content-Length", str(len(_STYLE)))
    request.end_headers()
    request.wfile.write(_STYLE)


def styled_page(request: SimpleHTTPRequestHandler) -> None:
    respond(request, b'<!doctype html><link rel="stylesheet" href="/styled.css"><title>styled</title><p id=p>hi')


async def test_a_stylesheet_is_fetched_once_across_pages(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    # route() made Chromium send Network.setCacheDisabled: every page fetched its stylesheet again.
    site.routes |= {"/styled.html": styled_page, "/styled.css": cached_style}
    async with guarded(browser, proxy, exempt(site.port, allow_writes=False)) as (context, blocked):
        for _ in range(3):
            page = await open_page(context)
            await page.goto(f"http://shop.test:{site.port}/styled.html")
            assert await page.evaluate("getComputedStyle(document.body).color") == "rgb(18, 52, 86)"
            await page.close()
    assert site.requests.count(("GET", "/styled.html")) == 3
    assert site.requests.count(("GET", "/styled.css")) == 1
    assert blocked == []


_WORKER_POST = """(url) => new Promise((done) => {
  const code = `fetch(${JSON.stringify(url)}, {method: "POST", body: "q=worker"})
    .then((r) => postMessage("status " + r.status), () => postMessage("error"));`;
  const worker = new Worker(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
  worker.onmessage = (e) => done(e.data);
})"""


async def test_a_workers_post_is_refused_in_the_browser(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    site.routes["/guard/submit"] = thank_you
    async with guarded(browser, proxy, exempt(site.port, allow_writes=False)) as (context, blocked):
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/form.html")
        outcome = await page.evaluate(_WORKER_POST, f"http://shop.test:{site.port}/guard/submit")
    assert outcome == "error"
    assert ("POST", "/guard/submit") not in site.requests
    # "route": the page's own session refused it; had it slipped past, the proxy would have reported it instead.
    assert [(b.rule, b.method, b.source) for b in blocked] == [("writes", "POST", "route")]


def cross_site_frame(port: int, host: str = "evil.test", path: str = "/guard/form.html") -> object:
    def handler(request: SimpleHTTPRequestHandler) -> None:
        respond(request, f'<!doctype html><title>outer</title><iframe id=f src="http://{host}:{port}{path}">'.encode())

    return handler


async def test_a_cross_site_frames_post_is_refused_in_the_browser(
    browser: Browser, proxy: EgressProxy, site: Site
) -> None:
    site.routes |= {"/guard/submit": thank_you, "/outer.html": cross_site_frame(site.port)}  # type: ignore[dict-item]
    async with guarded(browser, proxy, exempt(site.port, allow_writes=False)) as (context, blocked):
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/outer.html")
        frame = page.frame_locator("#f")
        await frame.locator("#send").wait_for()
        inner = next(f for f in page.frames if "evil.test" in f.url)
        fetched = await inner.evaluate("window.postWithFetch()")
        with anyio.fail_after(5):
            while not blocked:
                await anyio.sleep(0.05)
    assert fetched == "error"
    assert ("POST", "/guard/submit") not in site.requests
    assert [(b.rule, b.method, b.source) for b in blocked] == [("writes", "POST", "route")]


async def test_a_frame_inside_a_cross_site_frame_is_held_and_checked_too(
    browser: Browser, proxy: EgressProxy, site: Site
) -> None:
    # shop.test -> evil.test -> other.test: three sites, so the innermost frame is an iframe of an iframe's process.
    site.routes |= {
        "/guard/submit": thank_you,
        "/outer.html": cross_site_frame(site.port, "evil.test", "/middle.html"),  # type: ignore[dict-item]
        "/middle.html": cross_site_frame(site.port, "other.test"),  # type: ignore[dict-item]
    }
    async with guarded(browser, proxy, exempt(site.port, allow_writes=False)) as (context, blocked):
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/outer.html")
        await page.frame_locator("#f").frame_locator("#f").locator("#send").wait_for()
        inner = next(f for f in page.frames if "other.test" in f.url)
        fetched = await inner.evaluate("window.postWithFetch()")
    assert fetched == "error"
    assert ("POST", "/guard/submit") not in site.requests
    assert [(b.rule, b.method, b.source) for b in blocked] == [("writes", "POST", "route")]


async def test_skipped_media_never_leaves_the_browser(browser: Browser, proxy: EgressProxy, site: Site) -> None:
    async with guarded(browser, proxy, exempt(site.port)) as (context, blocked):
        await skip_media(context)
        page = await open_page(context)
        await page.goto(f"http://shop.test:{site.port}/guard/probe.html?base=http://shop.test:{site.port}&ws=")
        await page.wait_for_function("window.results.img && window.results.script")
        results = await page.evaluate("window.results")
    assert results["img"] == "error" and results["script"] == "loaded"
    assert ("GET", "/guard/pixel.gif") not in site.requests
    assert blocked == []  # skipped, not refused: nothing to report
