"""The trust score broken down by factor, over stdio MCP: the factors add up to `trust_score`, and turning a knob
(OS, country, warm-up, persistent mode, use) moves exactly the factor it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_browsa.browser.trust import band_for
from tests.identities.conftest import WHOAMI
from tests.support.mcp_server import call, ok, spawn_stdio
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

FACTORS = ["baseline", "harness", "mode", "os", "warmup", "country", "age", "sessions"]


async def trust_of(client: Client, identity_id: str) -> tuple[dict[str, Any], dict[str, int]]:
    got = ok(await call(client, "get_identity", {"identity_id": identity_id, "include": ["trust"]}))
    trust = got["trust"]
    factors = trust["factors"]
    assert [f["name"] for f in factors] == FACTORS
    assert all(isinstance(f["points"], int) and f["points"] >= 0 and f["detail"] for f in factors)
    assert sum(f["points"] for f in factors) == trust["score"] == got["trust_score"]
    assert trust["band"] == got["trust_band"] == band_for(got["trust_score"])
    return got, {f["name"]: f["points"] for f in factors}


async def test_trust_factors_add_up_and_each_knob_raises_its_own(tmp_path: Path, id_site: Site) -> None:
    env = {
        "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{id_site.port}",
        "BROWSA_WARM_SPARES": "0",
        "BROWSA_WARMUP_RECIPES": f"shop={id_site.url(WHOAMI)}",
    }
    async with spawn_stdio(tmp_path, **env) as server, server.client() as client:
        plain = ok(await call(client, "create_identity", {"ttl": "5m", "os_type": "OS_TYPE_LINUX"}))
        _, plain_points = await trust_of(client, plain["id"])
        detail = {f["name"]: f["detail"] for f in plain["trust"]["factors"]}
        assert plain["trust"]["score"] == plain["trust_score"]  # create_identity shows the same breakdown
        assert plain_points["harness"] == 250 and plain_points["baseline"] == 600  # a clean browser
        assert plain_points["mode"] == plain_points["os"] == plain_points["warmup"] == plain_points["country"] == 0
        # Each detail at zero says which knob raises it.
        assert 'mode="persistent"' in detail["mode"] and "OS_TYPE_WINDOWS" in detail["os"]
        assert "warmup_recipe" in detail["warmup"] and "country=" in detail["country"]
        ok(await call(client, "destroy_identity", {"identity_id": plain["id"]}))

        tuned = ok(
            await call(
                client,
                "create_identity",
                {"ttl": "5m", "os_type": "OS_TYPE_WINDOWS", "country": "DE", "warmup_recipe": "shop"},
            )
        )
        tuned_agent, tuned_points = await trust_of(client, tuned["id"])
        assert tuned_points["os"] == 30 and tuned_points["warmup"] == 25 and tuned_points["country"] == 10
        assert tuned_points["harness"] == plain_points["harness"]  # the same clean browser underneath
        assert tuned_agent["trust_score"] == plain["trust_score"] + 30 + 25 + 10
        ok(await call(client, "destroy_identity", {"identity_id": tuned["id"]}))

        kept = ok(await call(client, "create_identity", {"mode": "persistent", "os_type": "OS_TYPE_MACOS"}))
        _, before = await trust_of(client, kept["id"])
        assert before["mode"] == 50 and before["os"] == 20 and before["sessions"] == 0
        for _ in range(2):
            session = ok(
                await call(client, "open_session", {"identity_id": kept["id"], "ttl": "5m", "allowed_domains": ["*"]})
            )
            ok(await call(client, "close_session", {"session_id": session["session_id"]}))
        kept_agent, after = await trust_of(client, kept["id"])
        assert after["sessions"] == 4  # two sessions of use
        assert kept_agent["trust_score"] - after["harness"] == 600 + 50 + 20 + 4
        ok(await call(client, "destroy_identity", {"identity_id": kept["id"]}))
