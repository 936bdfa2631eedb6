"""Fixtures for identity tests: a site with a login that sets a cookie and localStorage, and a running app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.events import EngineEvent
from tests.support.sites import Site, serve_site

LOGIN = "/id/login"  # sets the `sid` cookie and, from script, localStorage.token
WHOAMI = "/id/whoami"  # JSON: the cookies and client-hint headers the browser sent

LOGIN_PAGE = b"""<!doctype html><html><head><title>Logged in</title></head><body>
<script>localStorage.setItem('token', 'tok-alice42');</script><p>welcome</p></body></html>"""


def _send(req: SimpleHTTPRequestHandler, body: bytes, content_type: str, *extra: tuple[str, str]) -> None:
    req.send_response(200)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    for name, value in extra:
        req.send_header(name, value)
    req.end_headers()
    req.wfile.write(body)


def add_identity_pages(site: Site) -> None:
    def login(req: SimpleHTTPRequestHandler) -> None:
        _send(req, LOGIN_PAGE, "text/html", ("Set-Cookie", "sid=alice42; Path=/; Max-Age=86400; HttpOnly"))

    def whoami(req: SimpleHTTPRequestHandler) -> None:
        seen = {
            "cookie": req.headers.get("Cookie", ""),
            "user_agent": req.headers.get("User-Agent", ""),
            "accept_language": req.headers.get("Accept-Language", ""),
            # Low-entropy client hints: Chromium sends these to every trustworthy origin, asked for or not.
            "sec_ch_ua": req.headers.get("Sec-CH-UA", ""),
            "sec_ch_ua_mobile": req.headers.get("Sec-CH-UA-Mobile", ""),
            "sec_ch_ua_platform": req.headers.get("Sec-CH-UA-Platform", ""),
        }
        page = f"<!doctype html><title>whoami</title><pre id=seen>{json.dumps(seen)}</pre>".encode()
        _send(req, page, "text/html", ("Accept-CH", "Sec-CH-UA-Platform"))

    site.routes.update({LOGIN: login, WHOAMI: whoami})


@pytest.fixture(scope="module")
def id_site() -> Iterator[Site]:
    with serve_site() as site:
        add_identity_pages(site)
        yield site


AppFactory = Callable[..., AbstractAsyncContextManager[Browsa]]


@pytest.fixture
def make_app(tmp_path: Path, id_site: Site) -> AppFactory:
    """`async with make_app(BROWSA_MAX_BURNERS="2") as app`: a running app whose guard lets it reach `id_site` only."""

    @asynccontextmanager
    async def running(**env: str) -> AsyncIterator[Browsa]:
        settings = load_settings(
            {
                "BROWSA_HOME": str(tmp_path / "home"),
                "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{id_site.port}",
                "BROWSA_WARM_SPARES": "0",
                **env,
            }
        )
        async with Browsa(settings).running() as app:
            yield app

    return running


def record_events(app: Browsa) -> list[EngineEvent]:
    """Every engine event the app emits from now on, in order."""
    seen: list[EngineEvent] = []

    async def listener(event: EngineEvent) -> None:
        seen.append(event)

    app.bus.subscribe(listener)
    return seen
