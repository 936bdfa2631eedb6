"""Sessions over streamable HTTP with API keys: a session is its workspace's alone, and a login made in an identity
session survives close_session and a server restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from tests.identities.conftest import LOGIN, WHOAMI, add_identity_pages
from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import call, envelope, ok, spawn_http
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio


THEME = "/id/theme"  # sets a second cookie, in a session the server is stopped under


def set_theme(req: SimpleHTTPRequestHandler) -> None:
    body = b"<!doctype html><title>Theme</title><p>dark theme on</p>"
    req.send_response(200)
    req.send_header("Content-Type", "text/html")
    req.send_header("Content-Length", str(len(body)))
    req.send_header("Set-Cookie", "theme=dark; Path=/; Max-Age=86400")
    req.end_headers()
    req.wfile.write(body)


@pytest.fixture(scope="module")
def shop() -> Iterator[Site]:
    with serve_site("127.0.0.1") as site:
        add_identity_pages(site)
        site.routes[THEME] = set_theme
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

    # A new server process on the same data dir: the login is there. This time the server stops (SIGTERM) with the
    # session still open, and what the session changed is saved all the same.
    with spawn_http(home, **env) as server:
        async with http_client(base_url(server), acme) as a:
            again = ok(await call(a, "open_session", {"identity_id": identity["id"], "initial_url": shop.url(WHOAMI)}))
            assert "sid=alice42" in again["observation"] and "theme=dark" not in again["observation"]
            ok(await call(a, "navigate", {"session_id": again["session_id"], "url": shop.url(THEME)}))
        assert server.stop() == 0

    with spawn_http(home, **env) as server:
        async with http_client(base_url(server), acme) as a:
            job = ok(await call(a, "get_job", {"job_id": again["session_id"]}))
            assert job["status"] == "failed" and "open_session again" in job["error_message"]
            third = ok(await call(a, "open_session", {"identity_id": identity["id"], "initial_url": shop.url(WHOAMI)}))
            assert "sid=alice42" in third["observation"] and "theme=dark" in third["observation"]
            ok(await call(a, "close_session", {"session_id": third["session_id"]}))
