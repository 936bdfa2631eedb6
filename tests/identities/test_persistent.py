"""Persistent identities on the app object: sealed state across job sessions, warm-up recipes, fingerprinted burners.

Jobs get their browser from `Browsa.browser_for`, so these are exactly the sessions run_task(identity_id=…) gets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.browser.fingerprint import country_timezones
from mcp_browsa.config import load_settings
from mcp_browsa.crypto import SealedDataError, open_sealed
from mcp_browsa.errors import AgentNotRunning, BadRequest, TooManyRequests
from mcp_browsa.identities import build_spec
from mcp_browsa.sessions import SessionRequest
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE as WS
from tests.identities.conftest import LOGIN, WHOAMI, record_events
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, id_site: Site) -> AsyncIterator[Browsa]:
    recipes = f"shop={id_site.url(WHOAMI)}|{id_site.url(LOGIN)};empty="
    settings = load_settings(
        {
            "BROWSA_HOME": str(tmp_path_factory.mktemp("persistent")),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{id_site.port}",
            "BROWSA_WARM_SPARES": "0",
            "BROWSA_WARMUP_RECIPES": recipes,
        }
    )
    async with Browsa(settings).running() as running:
        yield running


def spec(app: Browsa, **kw: Any) -> Any:
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
        recipes=app.settings.warmup_recipes,
    )
    args.update(kw)
    return build_spec(**args)


async def whoami(app: Browsa, identity_id: str, id_site: Site) -> tuple[dict[str, Any], str | None, str]:
    """What the site sees in a job session on the identity: cookies sent, localStorage kept, platform shown."""
    policy = app.policy(None, allow_writes=True)
    async with app.browser_for(WS, {"identity_id": identity_id}, policy=policy) as burner:
        await burner.page.goto(id_site.url(WHOAMI))
        seen = json.loads(await burner.page.inner_text("#seen"))
        token = await burner.page.evaluate("localStorage.getItem('token')")
        platform = await burner.page.evaluate("navigator.platform")
    return seen, token, platform


async def test_a_login_in_one_job_session_is_there_in_the_next(app: Browsa, id_site: Site) -> None:
    events = record_events(app)
    agent = await app.identities.create(WS, spec(app, persona="shopper", os_type="OS_TYPE_MACOS", country="FR"))
    assert agent.mode == "persistent" and agent.status == "running" and agent.cdp_url is None
    assert agent.persona == "shopper" and agent.hint and "open_session" in agent.hint
    assert agent.trust_score is not None and agent.trust_band == "high"
    assert agent.cost_credits == app.prices.persistent_session + app.prices.non_default_country

    policy = app.policy(None, allow_writes=True)
    async with app.browser_for(WS, {"identity_id": agent.id}, policy=policy) as burner:
        await burner.page.goto(id_site.url(LOGIN))
        assert await burner.page.evaluate("localStorage.getItem('token')") == "tok-alice42"
        # One session at a time: an interactive session, or another job, must wait for this one.
        with pytest.raises(TooManyRequests):
            await app.sessions.open(WS, None, SessionRequest(identity_id=agent.id, allowed_domains=["*"]))
        assert app.identities.core.live == {}

    seen, token, platform = await whoami(app, agent.id, id_site)
    assert "sid=alice42" in seen["cookie"] and token == "tok-alice42"
    assert platform == "MacIntel" and seen["accept_language"].startswith("fr-FR")
    sealed = await app.db.fetchone("SELECT nonce, ciphertext FROM identity_state WHERE agent_id=?", (agent.id,))
    assert sealed is not None and b"alice42" not in bytes(sealed[1])  # encrypted at rest
    # Bound to its row: the same blob under another identity does not open.
    with pytest.raises(SealedDataError):
        open_sealed(app.identities.core.key(), bytes(sealed[0]), bytes(sealed[1]), b"another identity")
    state = await app.identities.core.load_state(WS, agent.id)
    assert state is not None and any(c["name"] == "sid" for c in state["cookies"])

    types = [e.type for e in events if e.type.startswith("agent.")]
    assert types == ["agent.provisioned"] + ["agent.session.started", "agent.session.ended"] * 2
    ended = [e.data for e in events if e.type == "agent.session.ended"]
    assert all(d["state_saved"] and d["kind"] == "job" for d in ended)

    # A pool context measures a persistent identity between sessions, with its pinned fingerprint.
    measured = await app.identities.get(WS, agent.id, include=["fingerprint", "trust"])
    assert measured.fingerprint is not None and measured.fingerprint["navigator"]["platform"] == "MacIntel"
    assert measured.fingerprint["timezone"]["name"] in country_timezones("FR")

    gone = await app.identities.destroy(WS, agent.id)
    assert gone.status == "destroyed"
    assert await app.db.fetchone("SELECT 1 FROM identity_state WHERE agent_id=?", (agent.id,)) is None
    with pytest.raises(AgentNotRunning):
        async with app.browser_for(WS, {"identity_id": agent.id}, policy=policy):
            pass


async def test_an_identity_session_with_cdp_is_charged_to_its_job_and_announced(app: Browsa) -> None:
    agent = await app.identities.create(WS, spec(app, persona="interactive"))
    balance = await app.engine.ledger.balance(WS)
    events = record_events(app)
    opened = await app.sessions.open(WS, None, SessionRequest(identity_id=agent.id, allowed_domains=["*"], cdp=True))
    assert opened.cdp_url and opened.identity_id == agent.id
    during = await app.identities.get(WS, agent.id)
    assert during.cdp_url == opened.cdp_url and during.session is not None and during.session.kind == "interactive"
    price = app.prices.persistent_session
    assert await app.engine.ledger.balance(WS) == balance - price
    charge = (await app.engine.ledger.entries(WS, 1))[0]
    assert charge.job_id == opened.session_id and charge.amount == -price

    closed = await app.sessions.close(WS, opened.session_id)
    assert closed.state_saved is True and closed.credits_charged == price
    after = await app.identities.get(WS, agent.id)
    assert after.cdp_url is None and after.session is None
    lifecycle = [e for e in events if e.type.startswith("agent.")]
    assert [(e.type, e.data["agent_id"], e.data["kind"]) for e in lifecycle] == [
        ("agent.session.started", agent.id, "interactive"),
        ("agent.session.ended", agent.id, "interactive"),
    ]
    assert lifecycle[0].data["session_id"] == lifecycle[1].data["session_id"] and lifecycle[-1].data["state_saved"]
    await app.identities.destroy(WS, agent.id)


async def test_list_identities_gives_the_newest_first_up_to_the_limit(app: Browsa) -> None:
    made = [await app.identities.create(WS, spec(app, persona=f"listed {n}")) for n in range(3)]
    listing = await app.identities.list_identities(WS, limit=2)
    assert listing.count == 2
    assert [a.id for a in listing.agents] == [made[2].id, made[1].id]
    for agent in made:
        await app.identities.destroy(WS, agent.id)


async def test_warmup_recipe_is_visited_at_creation_and_kept(app: Browsa, id_site: Site) -> None:
    agent = await app.identities.create(WS, spec(app, warmup_recipe="shop"))
    assert agent.mode == "persistent" and agent.warmup_recipe == "shop"
    assert [v.url for v in agent.warmup or []] == [id_site.url(WHOAMI), id_site.url(LOGIN)]
    assert all(v.ok and v.status == 200 for v in agent.warmup or [])
    seen, token, _platform = await whoami(app, agent.id, id_site)
    assert "sid=alice42" in seen["cookie"] and token == "tok-alice42"  # what warm-up collected was stored

    with pytest.raises(BadRequest) as unknown:
        spec(app, warmup_recipe="nope")
    body = unknown.value.envelope()
    assert "'nope'" in body["error"] and "empty, shop" in body["error"] and body["known_recipes"] == ["empty", "shop"]
    with pytest.raises(BadRequest, match="burners only"):
        spec(app, mode="persistent", ttl="5m")
    await app.identities.destroy(WS, agent.id)


async def test_a_plain_job_burner_gets_the_fingerprint_it_asks_for(app: Browsa, id_site: Site) -> None:
    policy = app.policy(None, allow_writes=False)
    before = await app.engine.ledger.balance(WS)
    params = {"os_type": "OS_TYPE_WINDOWS", "country": "JP"}
    async with app.browser_for(WS, params, policy=policy) as burner:
        await burner.page.goto(id_site.url(WHOAMI))
        facts = await burner.page.evaluate("[navigator.platform, Intl.DateTimeFormat().resolvedOptions().timeZone]")
    assert facts == ["Win32", "Asia/Tokyo"]
    assert await app.engine.ledger.balance(WS) == before - app.prices.non_default_country
    with pytest.raises(BadRequest, match="unknown country"):
        async with app.browser_for(WS, {"country": "ZZ"}, policy=policy):
            pass
