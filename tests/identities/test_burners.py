"""Burner identities on the app object: their own Chromium driven from a separate Playwright, TTL, cap, trust, meter.

Every browser here is real: the identity's Chromium is launched by the app, and the "user" connects to its CDP URL
with a Playwright of its own, as a customer's script would.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import async_playwright

from mcp_browsa.app import Browsa
from mcp_browsa.browser.fingerprint import Fingerprint, country_timezones, make_fingerprint
from mcp_browsa.config import load_settings
from mcp_browsa.errors import AgentNotRunning, BadRequest, TooManyRequests, UpstreamUnavailable
from mcp_browsa.identities import Identity, build_spec
from mcp_browsa.identities.spec import CreateSpec
from mcp_browsa.sessions import SessionRequest
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE as WS
from tests.identities.conftest import LOGIN, WHOAMI, AppFactory, record_events
from tests.support.sites import Site, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, id_site: Site) -> AsyncIterator[Browsa]:
    """One app for the tests that need no settings of their own: starting one costs seconds."""
    settings = load_settings(
        {
            "BROWSA_HOME": str(tmp_path_factory.mktemp("burners")),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{id_site.port}",
            "BROWSA_WARM_SPARES": "0",
        }
    )
    async with Browsa(settings).running() as running:
        yield running


AGENT_ID = re.compile(r"^agt_[0-9a-f]{20}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UA_TOKEN = {"OS_TYPE_WINDOWS": "Windows NT 10.0", "OS_TYPE_MACOS": "Macintosh", "OS_TYPE_LINUX": "X11; Linux"}
PLATFORM = {"OS_TYPE_WINDOWS": "Win32", "OS_TYPE_MACOS": "MacIntel", "OS_TYPE_LINUX": "Linux x86_64"}
HINT_PLATFORM = {"OS_TYPE_WINDOWS": "Windows", "OS_TYPE_MACOS": "macOS", "OS_TYPE_LINUX": "Linux"}
PAGE_FACTS = """() => ({
  ua: navigator.userAgent, platform: navigator.platform, languages: navigator.languages,
  webdriver: navigator.webdriver, intl: Intl.DateTimeFormat().resolvedOptions(),
  hints: navigator.userAgentData && navigator.userAgentData.platform,
  screen: [screen.width, screen.height], dpr: devicePixelRatio,
})"""


def spec(**kw: Any) -> CreateSpec:
    args: dict[str, Any] = dict(
        mode=None,
        ttl=None,
        ttl_seconds=None,
        os_type=None,
        country=None,
        persona=None,
        warmup_recipe=None,
        initial_url=None,
        allowed_domains=None,
        recipes={},
    )
    args.update(kw)
    return build_spec(**args)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


@contextmanager
def fingerprints_from(app: Browsa, factory: Callable[..., Fingerprint]) -> Iterator[None]:
    """Identities created inside get their fingerprint from `factory` (which takes make_fingerprint's arguments)."""
    saved = app.identities.core.fingerprint_factory
    app.identities.core.fingerprint_factory = factory
    try:
        yield
    finally:
        app.identities.core.fingerprint_factory = saved


def tampered(change: Callable[[Fingerprint], dict[str, Any]]) -> Callable[..., Fingerprint]:
    """A fingerprint factory that makes the usual fingerprint, then replaces the fields `change` returns for it."""

    def factory(**kw: Any) -> Fingerprint:
        fp = make_fingerprint(**kw)
        return Fingerprint.from_dict({**fp.to_dict(), **change(fp)})

    return factory


def client_hints(seen: dict[str, str]) -> dict[str, str]:
    """Brand -> major version from a Sec-CH-UA header such as `"Chromium";v="156", "Not-A.Brand";v="24"`."""
    return dict(re.findall(r'"([^"]+)";v="([^"]+)"', seen["sec_ch_ua"]))


async def test_burner_is_driven_over_cdp_through_the_guard_and_destroyed(app: Browsa, id_site: Site) -> None:
    events = record_events(app)
    agent = await app.identities.create(WS, spec(ttl="5m", os_type="OS_TYPE_WINDOWS", country="DE"))
    assert AGENT_ID.match(agent.id) and agent.mode == "burner" and agent.status == "running"
    assert agent.cdp_url and agent.cdp_url.startswith("ws://127.0.0.1:")
    assert agent.cdp_http and agent.cdp_http.startswith("http://127.0.0.1:")
    assert agent.expires_at is not None and abs(agent.expires_at - (time.time() + 300)) < 30
    assert agent.trust_score is not None and agent.trust_score >= 850 and agent.trust_band == "high"
    assert agent.cost_credits == app.prices.burner_start + app.prices.non_default_country
    row = await app.identities.core.repo.get(agent.id)
    assert row is not None and pid_alive(row["pid"])

    async with httpx.AsyncClient() as http:
        version = (await http.get(agent.cdp_http + "/json/version")).json()
        targets = (await http.get(agent.cdp_http + "/json/list")).json()
    assert version["webSocketDebuggerUrl"] == agent.cdp_url
    assert "Headless" not in version["User-Agent"] and "Windows NT" in version["User-Agent"]
    assert any(t["type"] == "page" for t in targets)

    with serve_site() as other:  # a second loopback site that the guard was not told about
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(agent.cdp_url)
            page = await browser.contexts[0].new_page()  # a page the user opens, not one we prepared
            await page.goto(id_site.url(WHOAMI))
            seen = json.loads(await page.inner_text("#seen"))
            facts = await page.evaluate(PAGE_FACTS)
            refused = await page.goto(other.url("/"))
            assert refused is not None and refused.status == 403
            assert refused.headers.get("x-browsa-guard")
            await browser.close()  # a CDP client disconnects; the burner stays up
        assert not other.requests
    assert "Windows NT 10.0" in seen["user_agent"] and seen["accept_language"].startswith("de-DE")
    assert facts["platform"] == "Win32" and facts["webdriver"] is False and facts["hints"] == "Windows"
    assert facts["intl"]["locale"] == "de-DE" and facts["intl"]["timeZone"] in country_timezones("DE")
    assert pid_alive(row["pid"])

    # The read-back fingerprint comes from the live browser and agrees with the pinned one.
    got = await app.identities.get(WS, agent.id, include=["fingerprint", "trust", "detection"])
    assert got.fingerprint is not None and got.fingerprint_pinned is not None
    assert got.fingerprint["navigator"]["platform"] == "Win32"
    assert got.fingerprint["navigator"]["userAgent"] == got.fingerprint_pinned["user_agent"]
    assert got.fingerprint["timezone"]["name"] == got.fingerprint_pinned["timezone"]
    screen = got.fingerprint["screen"]
    assert (screen["width"], screen["height"]) == (
        got.fingerprint_pinned["screen_width"],
        got.fingerprint_pinned["screen_height"],
    )
    assert got.fingerprint["webgl"]["unmaskedRenderer"] == got.fingerprint_pinned["webgl_renderer"]
    assert HEX64.match(got.fingerprint["canvas_hash"] or "") and HEX64.match(got.fingerprint["audio_hash"] or "")
    assert got.trust is not None and got.trust["band"] == "high"
    assert got.detection and {c["name"] for c in got.detection} >= {"webdriver", "platform_coherence"}

    gone = await app.identities.destroy(WS, agent.id)
    assert gone.status == "destroyed" and gone.cdp_url is None and gone.destroyed_at is not None
    await wait_until(lambda: not pid_alive(row["pid"]), "the browser process gone")
    assert not await anyio.Path(row["profile_dir"]).exists()
    with pytest.raises(AgentNotRunning):
        await app.identities.get(WS, agent.id, include=["trust"])
    with pytest.raises(BadRequest):  # a burner identity is driven through its own cdp_url, never a session
        await app.sessions.open(WS, None, SessionRequest(identity_id=agent.id, allowed_domains=["*"]))
    assert (await app.identities.destroy(WS, agent.id)).status == "destroyed"  # idempotent
    types = [e.type for e in events if e.type.startswith("agent.")]
    assert types == ["agent.provisioned", "agent.destroyed"]
    assert app.pool.in_use == 0


# Seeds pinned to cover each screen kind: Retina (scale 2), a large 1.0 screen, and a fractional 1.25 laptop.
@pytest.mark.parametrize(
    ("os_type", "country", "seed"),
    [("OS_TYPE_MACOS", "JP", "s0"), ("OS_TYPE_LINUX", None, "s3"), ("OS_TYPE_WINDOWS", "BR", "s2")],
)
async def test_fingerprint_is_coherent_per_os_and_country(
    app: Browsa, id_site: Site, os_type: str, country: str | None, seed: str
) -> None:
    with fingerprints_from(app, lambda **kw: make_fingerprint(**kw, seed=seed)):
        agent = await app.identities.create(WS, spec(ttl_seconds=120, os_type=os_type, country=country))
    assert agent.os_type == os_type and agent.country == country
    row = await app.identities.core.repo.get(agent.id)
    assert row is not None
    pinned = Fingerprint.from_dict(json.loads(row["fingerprint"]))
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(agent.cdp_url or "")
        page = await browser.contexts[0].new_page()
        await page.goto(id_site.url(WHOAMI))
        facts = await page.evaluate(PAGE_FACTS)
        seen = json.loads(await page.inner_text("#seen"))
        await browser.close()
    assert UA_TOKEN[os_type] in facts["ua"] and "Headless" not in facts["ua"]
    # The request headers come from the browser process itself, not from page script: they must agree too.
    brands = client_hints(seen)
    assert brands["Chromium"] == str(pinned.major_version) == pinned.chromium_version.split(".")[0]
    assert brands == {b["brand"]: b["version"] for b in pinned.brands}
    assert seen["sec_ch_ua_platform"] == f'"{HINT_PLATFORM[os_type]}"' and seen["sec_ch_ua_mobile"] == "?0"
    assert facts["platform"] == PLATFORM[os_type] and facts["hints"] == HINT_PLATFORM[os_type]
    assert facts["languages"] == list(pinned.languages) and facts["intl"]["locale"] == pinned.locale
    assert facts["intl"]["timeZone"] == pinned.timezone
    assert facts["screen"] == [pinned.screen_width, pinned.screen_height]
    assert facts["dpr"] == pinned.device_scale_factor
    if country:
        assert pinned.timezone in country_timezones(country)
    assert agent.trust_band == "high", agent.trust
    # Nothing fails, worker_coherence included: a dedicated worker shows the pinned platform and cores too.
    assert agent.trust is not None and agent.trust["failed"] == [], agent.trust
    harness = next(f for f in agent.trust["factors"] if f["name"] == "harness")
    assert harness["points"] == 250 and "1000/1000" in harness["detail"], agent.trust
    await app.identities.destroy(WS, agent.id)


async def test_burner_warms_up_then_waits_on_its_initial_url(app: Browsa, id_site: Site) -> None:
    tour = [id_site.url("/foundation/article.html"), id_site.url(LOGIN)]
    start = id_site.url(WHOAMI)
    mark = len(id_site.requests)
    agent = await app.identities.create(
        WS, spec(ttl_seconds=120, warmup_recipe="tour", initial_url=start, recipes={"tour": tour})
    )
    assert agent.mode == "burner" and agent.warmup_recipe == "tour" and agent.initial_url == start
    assert [(v.url, v.ok, v.status) for v in agent.warmup or []] == [(url, True, 200) for url in tour]
    wanted = {"/foundation/article.html", LOGIN, WHOAMI}
    assert [path for _method, path in id_site.requests[mark:] if path in wanted] == [
        "/foundation/article.html",
        LOGIN,
        WHOAMI,
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(agent.cdp_url or "")
        pages = browser.contexts[0].pages
        urls = [p.url for p in pages]
        seen = json.loads(await pages[0].inner_text("#seen"))
        await browser.close()
    assert urls == [start]  # the probe page is gone; the user finds the page they asked for
    assert "sid=alice42" in seen["cookie"]  # set by the warm-up's login visit, in this same browser
    await app.identities.destroy(WS, agent.id)


async def test_ttl_expiry_stops_the_browser_and_the_meter(app: Browsa) -> None:
    events = record_events(app)
    agent = await app.identities.create(WS, spec(ttl_seconds=5))
    row = await app.identities.core.repo.get(agent.id)
    assert row is not None

    async def ended() -> bool:
        current = await app.identities.core.repo.get(agent.id)
        return current is not None and current["status"] == "destroyed"

    await wait_until(ended, "the burner destroyed at its TTL")
    final = await app.identities.get(WS, agent.id)
    assert final.error_message == "its TTL ended" and final.cdp_url is None
    assert final.destroyed_at is not None and final.destroyed_at >= (agent.expires_at or 0) - 0.5
    await wait_until(lambda: not pid_alive(row["pid"]), "the browser process gone")
    assert agent.id not in app.identities.core.live
    assert [e.type for e in events if e.type.startswith("agent.")] == ["agent.provisioned", "agent.destroyed"]
    assert final.cost_credits == app.prices.burner_start  # five seconds: the first minute only


async def test_meter_charges_each_started_minute(app: Browsa) -> None:
    agent = await app.identities.create(WS, spec(ttl="1h"))
    # Pretend the burner has been up for two minutes and ten seconds: the third minute has started.
    await app.db.execute("UPDATE agents SET started_at=started_at-130 WHERE id=?", (agent.id,))
    await app.identities.reaper.meter()
    await app.identities.reaper.meter()  # a second pass in the same minute charges nothing more
    assert (
        await app.identities.get(WS, agent.id)
    ).cost_credits == app.prices.burner_start + 2 * app.prices.burner_minute
    ledger = await app.engine.ledger.entries(WS, 5)
    assert ledger[0].agent_id == agent.id and "minute 3" in ledger[0].description
    await app.identities.destroy(WS, agent.id)
    assert (await app.identities.get(WS, agent.id)).cost_credits == app.prices.burner_start + 2


async def test_more_burners_than_the_cap_is_too_many_requests(make_app: AppFactory) -> None:
    async with make_app(BROWSA_MAX_BURNERS="1") as app:
        first = await app.identities.create(WS, spec(ttl_seconds=60))
        assert (await app.capacity()).burners_in_use == 1
        balance = await app.engine.ledger.balance(WS)
        with pytest.raises(TooManyRequests) as refused:
            await app.identities.create(WS, spec(ttl_seconds=60))
        retry = refused.value.envelope()["retry_after"]
        assert 1 <= retry <= 61  # when the soonest TTL ends
        assert await app.engine.ledger.balance(WS) == balance  # refused before anything was charged
        await app.identities.destroy(WS, first.id)
        second = await app.identities.create(WS, spec(ttl_seconds=60))
        assert second.status == "running"
        await app.identities.destroy(WS, second.id)
        assert app.pool.in_use == 0


async def test_trust_score_falls_when_the_fingerprint_has_a_tell(app: Browsa) -> None:
    good = await app.identities.create(WS, spec(ttl_seconds=120, os_type="OS_TYPE_WINDOWS"))
    # Two classic tells: a Windows UA on a page whose navigator.platform says Linux, and a German identity whose
    # clock runs on New York time.
    with fingerprints_from(app, tampered(lambda _fp: {"platform": "Linux x86_64", "timezone": "America/New_York"})):
        bad = await app.identities.create(WS, spec(ttl_seconds=120, os_type="OS_TYPE_WINDOWS", country="DE"))
    # The tell every detector flags: the UA headless Chromium sends by default, everything else as `good`.
    with fingerprints_from(
        app, tampered(lambda fp: {"user_agent": fp.user_agent.replace("Chrome/", "HeadlessChrome/")})
    ):
        headless = await app.identities.create(WS, spec(ttl_seconds=120, os_type="OS_TYPE_WINDOWS"))
    assert good.trust_score is not None and bad.trust_score is not None
    assert bad.trust_score < good.trust_score and bad.trust_band != "high"
    assert bad.trust is not None and {"platform_coherence", "timezone_country"} <= set(bad.trust["failed"])
    measured: Identity = await app.identities.get(WS, bad.id, include=["detection"])
    checks = {c["name"]: c for c in measured.detection or []}
    assert not checks["platform_coherence"]["passed"] and "Linux" in checks["platform_coherence"]["detail"]
    assert measured.trust_score == bad.trust_score  # measured again, same browser, same verdict

    async with httpx.AsyncClient() as http:
        version = (await http.get(f"{headless.cdp_http}/json/version")).json()
    assert "HeadlessChrome/" in version["User-Agent"]  # the browser itself says it, not only the pinned record
    assert headless.trust_score is not None and headless.trust_score < good.trust_score
    assert headless.trust_band != "high", headless.trust
    assert good.trust is not None and headless.trust is not None
    assert set(headless.trust["failed"]) - set(good.trust["failed"]) == {"headless_user_agent"}
    measured = await app.identities.get(WS, headless.id, include=["detection"])
    check = next(c for c in measured.detection or [] if c["name"] == "headless_user_agent")
    assert not check["passed"] and "HeadlessChrome" in check["detail"]
    for agent in (good, bad, headless):
        await app.identities.destroy(WS, agent.id)


async def test_events_and_refund_when_the_browser_cannot_start(make_app: AppFactory, tmp_path: Path) -> None:
    broken = tmp_path / "not-chromium"
    broken.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "Chromium 156.0.8078.79"; exit 0; fi\n'
        "echo 'this is not a browser' >&2\nexit 3\n"
    )
    broken.chmod(0o755)
    async with make_app(BROWSA_CHROMIUM=str(broken)) as app:
        events = record_events(app)
        before = await app.engine.ledger.balance(WS)
        with pytest.raises(UpstreamUnavailable, match=r"not a browser"):
            await app.identities.create(WS, spec(ttl_seconds=60))
        assert await app.engine.ledger.balance(WS) == before  # charged, then refunded
        failed = (await app.identities.list_identities(WS, status="failed")).agents
        assert len(failed) == 1 and failed[0].cost_credits == 0 and "not a browser" in (failed[0].error_message or "")
        assert [e.type for e in events if e.type.startswith("agent.")] == ["agent.failed"]
        assert app.pool.in_use == 0
