"""The in-browser request guard over CDP Fetch: the HTTP cache stays on, and writes from workers and
out-of-process iframes are refused in the browser before the proxy ever sees them."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.async_api import Browser

from mcp_browsa.browser.guard import EgressProxy
from mcp_browsa.browser.intercept import skip_media
from tests.browser import test_guard
from tests.browser.test_guard import exempt, guarded, open_page, thank_you
from tests.support.sites import Site, respond, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

# The guard tests' module-wide browser and proxy, shared rather than launched twice.
browser = test_guard.browser
proxy = test_guard.proxy

_STYLE = b"body { color: #123456 }"


def cached_style(request: SimpleHTTPRequestHandler) -> None:
    respond(request, _STYLE, "text/css", headers={"Cache-Control": "max-age=3600"})


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
        await wait_until(lambda: blocked, "the iframe's POST reported as refused", timeout=5)
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


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An HTTPS server for *.test: through the proxy its requests are a CONNECT tunnel, methods unseen."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.test"), x509.DNSName("shop.test")]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    with serve_site(tls=tls) as served:
        yield served


_POPUP_FORM = b"""<!doctype html><title>opener</title>
<form id=f method=post action="/guard/submit" target=_blank><input name=q value=popup>
<button id=send type=submit>Send</button></form>
<script>
  if (location.search === "?submit") document.getElementById("f").submit();
  if (location.search === "?open") window.open("/poster.html");
</script>"""
# A window whose own script posts as it loads, before Playwright has reported it.
_POSTER = b"""<!doctype html><title>poster</title>
<script>fetch("/guard/submit", {method: "POST", body: "q=poster"}).catch(() => {});</script>"""


@pytest.mark.parametrize("how", ["submit", "click", "open"])
async def test_a_popups_first_post_over_https_is_refused_in_the_browser(
    browser: Browser, proxy: EgressProxy, tls_site: Site, how: str
) -> None:
    # Playwright reports a popup only once its first navigation committed, too late for the popup's own session;
    # over HTTPS the proxy sees a tunnel and cannot tell a POST, so only the in-browser hook can refuse this one.
    tls_site.requests.clear()
    tls_site.routes |= {
        "/guard/submit": thank_you,
        "/opener.html": lambda r: respond(r, _POPUP_FORM),
        "/poster.html": lambda r: respond(r, _POSTER),
    }
    opener = "/opener.html" + ("" if how == "click" else f"?{how}")
    policy = exempt(tls_site.port, allow_writes=False)
    async with guarded(browser, proxy, policy, ignore_https_errors=True) as (context, blocked):
        page = await open_page(context)
        async with context.expect_page() as popup_info:
            await page.goto(f"https://shop.test:{tls_site.port}{opener}")
            if how == "click":
                await page.click("#send")
        popup = await popup_info.value
        await popup.wait_for_load_state()
        await wait_until(lambda: blocked, "the popup's first request reported as refused", timeout=5)
        assert await page.title() == "opener"
        assert await popup.title() != "thanks"
    assert ("POST", "/guard/submit") not in tls_site.requests
    assert ("GET", opener) in tls_site.requests  # the page did load
    assert [(b.rule, b.method, b.source) for b in blocked] == [("writes", "POST", "route")]
    assert not blocked[0].navigation  # the opener stayed where it was: a scrape of it is not failed
