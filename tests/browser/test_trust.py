"""Trust score: a fingerprinted context scores high, and each introduced tell pulls the score down by name."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from typing import Any, cast

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from mcp_browsa.browser.fingerprint import (
    Fingerprint,
    apply_fingerprint,
    context_options,
    fingerprint_page,
    make_fingerprint,
)
from mcp_browsa.browser.trust import WEIGHTS, TrustCheck, TrustReport, band_for, score_checks, trust_report
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

WINDOWS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    # One server for the module: stopping one takes half a second.
    with serve_site() as s:

        def page(req: SimpleHTTPRequestHandler) -> None:
            body = b"<!doctype html><title>trust</title><p>hello"
            req.send_response(200)
            req.send_header("Content-Type", "text/html")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)

        s.routes["/trust"] = page
        yield s


async def report_for(
    browser: Browser,
    site: Site,
    *,
    fp: Fingerprint | None = None,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> TrustReport:
    context: BrowserContext = await browser.new_context(**(options if options is not None else {}))
    try:
        if fp is not None:
            await apply_fingerprint(context, fp)
        page = await context.new_page()
        await fingerprint_page(page)  # no-op without a fingerprint
        await page.goto(site.url("/trust"))
        return await trust_report(page, **kwargs)
    finally:
        await context.close()


def by_name(report: TrustReport) -> dict[str, TrustCheck]:
    return {c.name: c for c in report.checks}


async def test_fingerprinted_context_scores_high_and_tells_pull_it_down(browser: Browser, site: Site) -> None:
    fp = make_fingerprint(os_type="OS_TYPE_WINDOWS", country="DE", chromium_version=browser.version, seed="trust")
    good = await report_for(browser, site, fp=fp, options=context_options(fp), expected=fp)
    assert good.band == "high", good.to_dict()
    assert good.score == 1000 and not good.failed, good.failed
    checks = by_name(good)
    # Scored, not skipped: the harness's worker really ran and saw the page's Win32 and core count.
    assert checks["worker_coherence"].weight > 0 and checks["worker_coherence"].passed, checks["worker_coherence"]
    assert checks["expected_fingerprint"].passed and checks["expected_fingerprint"].weight > 0
    assert checks["timezone_country"].weight > 0  # the country came from the expected fingerprint

    # A plain headless context: webdriver flag, HeadlessChrome UA, SwiftShader, no window frame.
    plain = await report_for(browser, site)
    assert plain.score < good.score and plain.band == "low"
    failed = {c.name for c in plain.failed}
    assert {"webdriver", "headless_user_agent", "webgl_renderer", "window_frame"} <= failed
    assert "HeadlessChrome" in by_name(plain)["headless_user_agent"].detail

    # A UA that claims Windows on a page whose navigator.platform still says Linux.
    liar = await report_for(
        browser, site, options={"user_agent": WINDOWS_UA.format(browser.version.split(".")[0])}, country="US"
    )
    assert liar.score < good.score
    platform = by_name(liar)["platform_coherence"]
    assert not platform.passed and "Linux" in platform.detail and "Windows" in platform.detail
    assert not by_name(liar)["timezone_country"].passed  # UTC is no US time zone


async def test_wrong_country_and_wrong_identity_are_named(browser: Browser, site: Site) -> None:
    fp = make_fingerprint(os_type="OS_TYPE_MACOS", country="JP", chromium_version=browser.version, seed="jp")
    other = make_fingerprint(os_type="OS_TYPE_LINUX", country="BR", chromium_version=browser.version, seed="br")
    report = await report_for(browser, site, fp=fp, options=context_options(fp), expected=other, country="FR")
    checks = by_name(report)
    assert not checks["timezone_country"].passed and "Asia/Tokyo" in checks["timezone_country"].detail
    mismatch = checks["expected_fingerprint"]
    assert not mismatch.passed
    for field in ("userAgent", "platform", "languages", "timezone"):
        assert field in mismatch.detail
    assert checks["platform_coherence"].passed  # the page itself is still coherent


async def test_unknown_country_fails_before_touching_the_page() -> None:
    untouchable = cast(Page, object())  # any attribute access would raise AttributeError
    with pytest.raises(ValueError, match="unknown country 'ZZ'"):
        await trust_report(untouchable, country="ZZ")


def test_score_and_bands() -> None:
    assert [band_for(s) for s in (1000, 850, 849, 700, 699, 0)] == ["high", "high", "medium", "medium", "low", "low"]
    checks = [
        TrustCheck("a", 3, True, ""),
        TrustCheck("b", 1, False, "why"),
        TrustCheck("n/a", 0, False, "not applicable"),
    ]
    report = score_checks(checks)
    assert report.score == 750 and report.band == "medium"
    assert [c.name for c in report.failed] == ["b"]
    assert report.to_dict()["checks"][1] == {"name": "b", "weight": 1, "passed": False, "detail": "why"}
    assert score_checks([]).score == 0


def test_an_obvious_tell_alone_leaves_the_high_band_and_a_soft_signal_does_not() -> None:
    def all_but(failing: str) -> TrustReport:
        return score_checks([TrustCheck(name, weight, name != failing, "") for name, weight in WEIGHTS.items()])

    tells = {"webdriver", "headless_user_agent", "platform_coherence"}
    for name in WEIGHTS:
        report = all_but(name)
        assert [c.name for c in report.failed] == [name]
        assert (report.band != "high") == (name in tells), (name, report.score)
