"""Sessions over streamable HTTP with API keys: a session is its workspace's alone, and a login made in an identity
session survives close_session and a server restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.identities.conftest import LOGIN, WHOAMI, add_identity_pages
from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import call, envelope, ok, spawn_http
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shop() -> Iterator[Site]:
    with serve_site("127.0.0.1") as site:
        add_identity_pages(site)
        yield site


async def test_a_session_belongs_to_its_workspace_and_its_identity_login_survives_a_restart(
    tmp_path: Path, shop: Site
) -> None:
    home = tmp_path
    env = {"BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}", "BROWSA_WARM_SPARES": "0"}
    acme, globex = mint(home, "acme"), mint(home, "globex")
    with spawn_http(home, **env) as server:
        async with http_client(base_url(server), acme) as a, http_client(base_url(server), globex) as b:
            identity = ok(await call(a, "create_identity", {"persona": "returning shopper"}))
            opened = ok(await call(a, "open_session", {"identity_id": identity["id"], "initial_url": shop.url(LOGIN)}))
            sid = opened["session_id"]
            assert opened["identity_id"] == identity["id"] and "welcome" in opened["observation"]

            for tool, args in (
                ("observe", {"session_id": sid}),
                ("act", {"session_id": sid, "action": "go_back"}),
                ("navigate", {"session_id": sid, "url": shop.url(WHOAMI)}),
                ("close_session", {"session_id": sid}),
                ("get_job", {"job_id": sid}),
            ):
                assert envelope(await call(b, tool, args))["code"] == "NOT_FOUND", tool
            assert ok(await call(b, "list_sessions", {}))["count"] == 0
            assert ok(await call(a, "list_sessions", {}))["count"] == 1

            ended = ok(await call(a, "close_session", {"session_id": sid}))
            assert ended["state_saved"] is True and "close_session" in ended["reason"]

    # A new server process on the same data dir: the identity's cookie and localStorage come back.
    with spawn_http(home, **env) as server:
        async with http_client(base_url(server), acme) as a:
            again = ok(await call(a, "open_session", {"identity_id": identity["id"], "initial_url": shop.url(WHOAMI)}))
            assert "sid=alice42" in again["observation"]
            ok(await call(a, "close_session", {"session_id": again["session_id"]}))
