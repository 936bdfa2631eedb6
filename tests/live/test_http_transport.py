"""The live view beside /mcp on the HTTP transport: same port, no API key (the token is the credential), the
transport's Host rule; and `mcp-browsa live ID` printing the address from another terminal."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import ok, run_cli, spawn_http
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def test_a_session_live_view_on_the_http_port(home: Path, site: Site) -> None:
    key = mint(home, "ws_live")
    with spawn_http(home, BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{site.port}") as server:
        base = base_url(server)
        async with http_client(base, key) as client:
            opened = ok(await client.call_tool("open_session", {"initial_url": site.url("/live/start.html")}))
            live_url, session = opened["live_url"], opened["session_id"]
            assert live_url.startswith(f"{base}/live/")
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"{base}/mcp")).status_code == 401  # the transport itself wants a key
                page = await http.get(live_url)  # the view does not: its token is the credential
                assert page.status_code == 200 and 'src="/live/static/live.js"' in page.text
                refused = await http.get(live_url, headers={"Host": f"rebound.example:{server.port}"})
                assert refused.status_code == 403

            printed = run_cli(home, "live", session, "--workspace", "ws_live")
            assert printed.returncode == 0 and printed.stdout.strip() == live_url
            elsewhere = run_cli(home, "live", session)  # the default workspace cannot see it
            assert elsewhere.returncode == 1 and "NOT_FOUND" in elsewhere.stderr

            ok(await client.call_tool("close_session", {"session_id": session}))
            async with httpx.AsyncClient() as http:
                assert (await http.get(live_url)).status_code == 410
            over = run_cli(home, "live", session, "--workspace", "ws_live")
            assert over.returncode == 1 and "ended" in over.stderr
