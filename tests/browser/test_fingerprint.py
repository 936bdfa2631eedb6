"""Fingerprints: generated ones are coherent, and a live Chromium reports exactly what was generated."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from typing import Any

import anyio
import pytest
from playwright.async_api import Browser

from mcp_browsa.browser.fingerprint import (
    COUNTRIES,
    Fingerprint,
    OsType,
    apply_fingerprint,
    context_options,
    fingerprint_page,
    make_fingerprint,
)
from mcp_browsa.browser.trust import read_fingerprint
from mcp_browsa.browser.workers import Command, configure_workers
from tests.support.sites import Site, respond, serve_site

pytestmark = pytest.mark.anyio

OS_TYPES: tuple[OsType, ...] = ("OS_TYPE_WINDOWS", "OS_TYPE_MACOS", "OS_TYPE_LINUX")
PLATFORMS = {"OS_TYPE_WINDOWS": "Win32", "OS_TYPE_MACOS": "MacIntel", "OS_TYPE_LINUX": "Linux x86_64"}
HINT_PLATFORMS = {"OS_TYPE_WINDOWS": "Windows", "OS_TYPE_MACOS": "macOS", "OS_TYPE_LINUX": "Linux"}
VERSION = "156.0.8078.79"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    # One server for the module: stopping one takes half a second.
    with serve_site() as s:
        yield s


def capture_headers(site: Site, path: str) -> list[dict[str, str]]:
    """Serve a tiny page at `path` and record the request headers of every hit."""
    seen: list[dict[str, str]] = []

    def handler(req: SimpleHTTPRequestHandler) -> None:
        seen.append({k.lower(): v for k, v in req.headers.items()})
        respond(req, b"<!doctype html><title>fp</title><p>hello", "text/html")

    site.routes[path] = handler
    return seen


# ---- generation (no browser) ----


def test_same_seed_same_fingerprint_and_json_round_trip() -> None:
    a = make_fingerprint(os_type="OS_TYPE_WINDOWS", country="de", chromium_version=VERSION, seed="s1")
    b = make_fingerprint(os_type="OS_TYPE_WINDOWS", country="DE", chromium_version=VERSION, seed="s1")
    assert a == b
    assert a.country == "DE"
    stored = json.loads(json.dumps(a.to_dict()))
    assert Fingerprint.from_dict(stored) == a
    assert Fingerprint.from_dict({**stored, "added_later": 1}) == a
    seeds = {make_fingerprint(chromium_version=VERSION, seed=str(i)).to_dict()["webgl_renderer"] for i in range(40)}
    assert len(seeds) > 1, "the seed should vary the hardware"
    assert make_fingerprint(chromium_version=VERSION).seed != make_fingerprint(chromium_version=VERSION).seed


@pytest.mark.parametrize("os_type", OS_TYPES)
def test_generated_fingerprint_is_coherent(os_type: OsType) -> None:
    for i, country in enumerate(COUNTRIES):
        fp = make_fingerprint(os_type=os_type, country=country, chromium_version=VERSION, seed=str(i))
        assert "Headless" not in fp.user_agent
        assert "Chrome/156.0.0.0 Safari/537.36" in fp.user_agent
        assert fp.platform == PLATFORMS[os_type]
        assert fp.ua_platform == HINT_PLATFORMS[os_type]
        assert fp.screen_width >= fp.outer_width >= fp.viewport_width
        assert fp.screen_height >= fp.avail_height >= fp.outer_height > fp.viewport_height
        assert fp.timezone in COUNTRIES[country][1]
        assert fp.languages[0] == fp.locale == COUNTRIES[country][0]
        assert fp.accept_language.startswith(fp.locale)
        assert [b["brand"] for b in fp.brands if not b["brand"].startswith("Not")] == ["Chromium", "Google Chrome"]
        assert fp.hardware_concurrency in (4, 8, 10, 12, 16) and fp.device_memory in (4, 8)
        if os_type == "OS_TYPE_MACOS":
            assert ("Apple M" in fp.webgl_renderer) == (fp.architecture == "arm")


def test_accept_language_and_defaults() -> None:
    fp = make_fingerprint(os_type="OS_TYPE_LINUX", country="BR", chromium_version="156", seed="x")
    assert fp.chromium_version == "156.0.0.0"
    assert fp.languages == ("pt-BR", "pt", "en-US", "en")
    assert fp.accept_language == "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7"
    assert fp.ua_platform_version == ""  # what Chromium reports on Linux
    assert make_fingerprint(country="UK", chromium_version=VERSION).country == "GB"
    plain = make_fingerprint(chromium_version=VERSION, seed="x")
    assert plain.country is None and plain.locale == "en-US" and plain.os_type == "OS_TYPE_LINUX"


def test_bad_input_says_how_to_fix() -> None:
    with pytest.raises(ValueError, match=r"unknown country 'XX'.*DE.*JP.*US"):
        make_fingerprint(country="XX", chromium_version=VERSION)
    with pytest.raises(ValueError, match="not a version"):
        make_fingerprint(chromium_version="latest")
    with pytest.raises(ValueError, match="os_type"):
        make_fingerprint(os_type="OS_TYPE_BEOS", chromium_version=VERSION)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing"):
        Fingerprint.from_dict({"os_type": "OS_TYPE_LINUX"})


# ---- against a live Chromium ----


async def load_fingerprinted(browser: Browser, site: Site, fp: Fingerprint) -> tuple[dict[str, Any], dict[str, str]]:
    """Open a page with `fp` applied; return what the page reports and the headers the server saw."""
    path = f"/fp/{fp.os_type}/{fp.country}"
    seen = capture_headers(site, path)
    context = await browser.new_context(**context_options(fp))
    try:
        await apply_fingerprint(context, fp)
        page = await context.new_page()
        await fingerprint_page(page)
        await page.goto(site.url(path))
        return await read_fingerprint(page), seen[0]
    finally:
        await context.close()


@pytest.mark.parametrize("os_type", OS_TYPES)
async def test_page_reports_the_generated_fingerprint(browser: Browser, site: Site, os_type: OsType) -> None:
    results: dict[str, tuple[Fingerprint, dict[str, Any], dict[str, str]]] = {}

    async def one(country: str) -> None:
        fp = make_fingerprint(os_type=os_type, country=country, chromium_version=browser.version, seed="t")
        got, headers = await load_fingerprinted(browser, site, fp)
        results[country] = (fp, got, headers)

    async with anyio.create_task_group() as tg:
        for country in ("US", "DE", "JP", "BR"):
            tg.start_soon(one, country)
    for fp, got, headers in results.values():
        check_read_back(browser.version, fp, got, headers)


def check_read_back(version: str, fp: Fingerprint, got: dict[str, Any], headers: dict[str, str]) -> None:
    os_type = fp.os_type
    major = version.split(".")[0]
    nav, uad = got["navigator"], got["user_agent_data"]
    assert f"Chrome/{major}.0.0.0 " in nav["userAgent"] and "Headless" not in nav["userAgent"]
    assert nav["userAgent"] == fp.user_agent
    assert nav["platform"] == fp.platform == PLATFORMS[os_type]
    assert nav["webdriver"] is False
    assert nav["languages"] == list(fp.languages) and nav["language"] == fp.locale
    assert nav["hardwareConcurrency"] == fp.hardware_concurrency
    assert nav["deviceMemory"] == fp.device_memory
    assert uad["platform"] == fp.ua_platform == HINT_PLATFORMS[os_type]
    assert uad["mobile"] is False
    assert uad["brands"] == fp.brands
    high = uad["highEntropy"]
    assert high["uaFullVersion"] == version
    assert high["fullVersionList"] == fp.full_version_list
    assert (high["platformVersion"], high["architecture"]) == (fp.ua_platform_version, fp.architecture)
    assert got["timezone"]["name"] == fp.timezone and got["timezone"]["locale"] == fp.locale
    assert got["screen"]["width"] >= got["viewport"]["width"] == fp.viewport_width
    assert got["screen"]["height"] >= got["viewport"]["height"] == fp.viewport_height
    assert got["screen"]["availHeight"] == fp.avail_height
    assert got["window"]["outerHeight"] > got["viewport"]["height"]
    assert got["device_pixel_ratio"] == fp.device_scale_factor
    assert got["webgl"]["unmaskedRenderer"] == fp.webgl_renderer

    assert headers["user-agent"] == fp.user_agent
    assert headers["sec-ch-ua-platform"] == f'"{fp.ua_platform}"'
    assert headers["sec-ch-ua-mobile"] == "?0"
    assert f'"Google Chrome";v="{major}"' in headers["sec-ch-ua"]
    assert headers["accept-language"] == fp.accept_language


async def test_brand_order_matches_real_chromium(browser: Browser, site: Site) -> None:
    """Our brand list is Chromium's own algorithm: the unbranded browser must report exactly it."""
    capture_headers(site, "/plain")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(site.url("/plain"))
        got = await read_fingerprint(page)
    finally:
        await context.close()
    fp = dataclasses.replace(make_fingerprint(chromium_version=browser.version, seed="b"), brand=None)
    assert got["user_agent_data"]["brands"] == fp.brands
    assert got["user_agent_data"]["highEntropy"]["fullVersionList"] == fp.full_version_list


async def test_country_table_uses_chromium_spellings(browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        table = {code: [locale, list(zones)] for code, (locale, zones) in COUNTRIES.items()}
        bad: dict[str, Any] = await page.evaluate(
            """(table) => {
              const bad = {};
              for (const [code, [locale, zones]] of Object.entries(table)) {
                for (const z of zones) {
                  const got = new Intl.DateTimeFormat('en', {timeZone: z}).resolvedOptions().timeZone;
                  if (got !== z) bad[code + ' ' + z] = got;
                }
                if (Intl.DateTimeFormat.supportedLocalesOf([locale]).length !== 1) bad[code] = locale;
              }
              return bad;
            }""",
            table,
        )
    finally:
        await context.close()
    assert bad == {}
    assert len(COUNTRIES) >= 30


async def test_patches_look_native_and_popups_are_covered(browser: Browser, site: Site) -> None:
    fp = make_fingerprint(os_type="OS_TYPE_WINDOWS", country="FR", chromium_version=browser.version, seed="n")
    capture_headers(site, "/a")
    context = await browser.new_context(**context_options(fp))
    try:
        await apply_fingerprint(context, fp)
        page = await context.new_page()
        await fingerprint_page(page)
        await page.goto(site.url("/a"))
        shown = await page.evaluate(
            """() => {
              const get = (p) => Object.getOwnPropertyDescriptor(Navigator.prototype, p).get;
              const gl = WebGLRenderingContext.prototype.getParameter;
              return {
                webdriver: Function.prototype.toString.call(get('webdriver')),
                memory: `${get('deviceMemory')}`,
                toString: Function.prototype.toString.toString(),
                getParameter: gl.toString(),
                hasPrototype: 'prototype' in get('webdriver') || 'prototype' in gl,
                own: Object.getOwnPropertyNames(navigator),
                illegal: (() => { try { get('webdriver').call({}); return 'no error'; } catch (e) { return e.name; } })(),
                otherRealm: (() => {
                  const frame = document.body.appendChild(document.createElement('iframe'));
                  return frame.contentWindow.Function.prototype.toString.call(get('webdriver'));
                })(),
              };
            }"""
        )
        async with page.expect_popup() as popup_info:
            await page.evaluate("(u) => window.open(u)", site.url("/a"))
        popup = await popup_info.value
        await popup.wait_for_load_state()
        await fingerprint_page(popup)
        popup_seen = await read_fingerprint(popup)
    finally:
        await context.close()
    # Another realm's toString cannot know our names, but still sees a native function.
    assert shown.pop("otherRealm").endswith("() { [native code] }")
    assert shown == {
        "webdriver": "function get webdriver() { [native code] }",
        "memory": "function get deviceMemory() { [native code] }",
        "toString": "function toString() { [native code] }",
        "getParameter": "function getParameter() { [native code] }",
        "hasPrototype": False,
        "own": [],
        "illegal": "TypeError",
    }
    assert popup_seen["navigator"]["platform"] == "Win32"
    assert popup_seen["navigator"]["webdriver"] is False
    assert popup_seen["user_agent_data"]["platform"] == "Windows"


# What a detector compares between a page and its workers, read by the worker's first statement.
NAVIGATOR_FACTS = """({
  platform: navigator.platform,
  hardwareConcurrency: navigator.hardwareConcurrency,
  deviceMemory: navigator.deviceMemory,
  userAgent: navigator.userAgent,
  appVersion: navigator.appVersion,
  languages: Array.from(navigator.languages),
  brands: navigator.userAgentData.brands.map((b) => ({ ...b })),
  uaPlatform: navigator.userAgentData.platform,
})"""

# Starts a worker from `src` and resolves with its first message, or with the error that stopped it.
SPAWN_WORKER = """([src, type]) => new Promise((resolve) => {
  const w = new Worker(src, { type });
  w.onmessage = (e) => { resolve(e.data); w.terminate(); };
  w.onerror = (e) => resolve({ error: String(e.message) });
})"""


def serve_worker(site: Site) -> str:
    path = "/facts-worker.js"
    body = f"postMessage({NAVIGATOR_FACTS});".encode()

    def handler(req: SimpleHTTPRequestHandler) -> None:
        respond(req, body, "text/javascript")

    site.routes[path] = handler
    return path


@pytest.mark.parametrize("os_type", ["OS_TYPE_WINDOWS", "OS_TYPE_MACOS"])
async def test_dedicated_workers_report_their_page_fingerprint(browser: Browser, site: Site, os_type: OsType) -> None:
    """Regression: workers showed the host (Linux, 2 cores) next to a Win32 page, failing worker_coherence."""
    fp = make_fingerprint(os_type=os_type, country="DE", chromium_version=browser.version, seed="w")
    worker = serve_worker(site)
    capture_headers(site, "/w")
    context = await browser.new_context(**context_options(fp))
    try:
        await apply_fingerprint(context, fp)
        page = await context.new_page()
        await fingerprint_page(page)
        await page.goto(site.url("/w"))
        in_page = await page.evaluate(f"() => {NAVIGATOR_FACTS}")
        blob = await page.evaluate(
            "(body) => URL.createObjectURL(new Blob([body], { type: 'text/javascript' }))",
            f"postMessage({NAVIGATOR_FACTS});",
        )
        seen = {
            name: await page.evaluate(SPAWN_WORKER, [src, kind])
            for name, src, kind in (
                ("served", worker, "classic"),
                ("module", worker, "module"),
                ("blob", blob, "classic"),
            )
        }
    finally:
        await context.close()
    assert in_page["platform"] == fp.platform and in_page["hardwareConcurrency"] == fp.hardware_concurrency
    assert in_page["languages"] == list(fp.languages) and in_page["uaPlatform"] == fp.ua_platform
    assert in_page["brands"] == fp.brands
    for name, facts in seen.items():
        assert facts == in_page, name


async def test_a_worker_starts_even_when_configuring_it_fails(
    browser: Browser, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    worker = serve_worker(site)
    capture_headers(site, "/broken")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        session = await context.new_cdp_session(page)
        unsendable: dict[str, Any] = {"expression": object()}  # fails to serialise after the worker is held
        await configure_workers(session, [("Runtime.evaluate", unsendable)])
        await page.goto(site.url("/broken"))
        with anyio.fail_after(10):
            facts = await page.evaluate(SPAWN_WORKER, [worker, "classic"])
    finally:
        await context.close()
    assert "error" not in facts and facts["userAgent"]
    assert "configuring worker" in caplog.text


async def test_canvas_and_audio_hashes_are_stable_within_a_context(browser: Browser, site: Site) -> None:
    fp = make_fingerprint(os_type="OS_TYPE_LINUX", country="US", chromium_version=browser.version, seed="h")
    capture_headers(site, "/h")
    context = await browser.new_context(**context_options(fp))
    try:
        await apply_fingerprint(context, fp)
        page = await context.new_page()
        await page.goto(site.url("/h"))
        first = await read_fingerprint(page)
        await page.reload()
        second = await read_fingerprint(page)
    finally:
        await context.close()
    for key in ("canvas_hash", "audio_hash"):
        assert isinstance(first[key], str) and len(first[key]) == 64
        assert first[key] == second[key]


COUNTED_WORKER = "postMessage(self.__configured || 0);"


async def test_a_worker_runs_only_after_every_command_sent_to_it(browser: Browser, site: Site) -> None:
    """The hold ends only once the worker has answered every command: none is left for after its first line."""
    path = "/counted-worker.js"
    site.routes[path] = lambda req: respond(req, COUNTED_WORKER.encode(), "text/javascript")
    capture_headers(site, "/counted")
    sent = 200
    count_one: Command = ("Runtime.evaluate", {"expression": "self.__configured = (self.__configured || 0) + 1"})
    context = await browser.new_context()
    try:
        page = await context.new_page()
        session = await context.new_cdp_session(page)
        await configure_workers(session, [count_one] * sent)
        await page.goto(site.url("/counted"))
        with anyio.fail_after(30):
            seen = [await page.evaluate(SPAWN_WORKER, [path, "classic"]) for _ in range(3)]
    finally:
        await context.close()
    assert seen == [sent] * 3
