"""Streamable HTTP sessions are capped per API key and in all; the longest-idle session makes room for a new one,
and when every session is busy the new one is refused TOO_MANY_REQUESTS with `retry_after`.

A real `mcp-browsa serve` subprocess, keys minted with the real CLI, raw HTTP requests for exact control over which
session is idle, and the `mcp` SDK client for what a host sees.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import HttpServer, spawn_http

pytestmark = pytest.mark.anyio

VERSION = "2025-06-18"
ACCEPT = "application/json, text/event-stream"


def open_session(server: HttpServer, key: str) -> httpx.Response:
    hello = {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
    return httpx.post(server.url, json=body, headers={"X-API-Key": key, "Accept": ACCEPT}, timeout=10)


def session(server: HttpServer, key: str) -> str:
    opened = open_session(server, key)
    assert opened.status_code == 200, opened.text
    return opened.headers["mcp-session-id"]


def headers(key: str, sid: str) -> dict[str, str]:
    return {"X-API-Key": key, "mcp-session-id": sid, "mcp-protocol-version": VERSION, "Accept": ACCEPT}


def ping(server: HttpServer, key: str, sid: str) -> int:
    """Use the session (it becomes the most recently idle); the HTTP status: 200, or 404 once it is gone."""
    body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    return httpx.post(server.url, json=body, headers=headers(key, sid), timeout=10).status_code


def test_a_key_past_its_cap_ends_its_own_longest_idle_session(home: Path) -> None:
    with spawn_http(home, BROWSA_WARM_SPARES="0", BROWSA_MAX_HTTP_SESSIONS_PER_KEY="2") as server:
        alice, bob = mint(home, "alice"), mint(home, "bob")
        bobs = session(server, bob)
        a1, a2 = session(server, alice), session(server, alice)
        a3 = session(server, alice)  # the third of the key: a1, idle longest, makes room
        assert ping(server, alice, a1) == 404
        assert ping(server, alice, a2) == 200 and ping(server, alice, a3) == 200  # a2 used before a3
        a4 = session(server, alice)
        assert [ping(server, alice, s) for s in (a2, a3, a4)] == [404, 200, 200]
        assert ping(server, bob, bobs) == 200  # another key's session was never a candidate


def test_the_server_past_its_cap_ends_the_longest_idle_session_of_anyone(home: Path) -> None:
    with spawn_http(
        home, BROWSA_WARM_SPARES="0", BROWSA_MAX_HTTP_SESSIONS="3", BROWSA_MAX_HTTP_SESSIONS_PER_KEY="3"
    ) as server:
        alice, bob = mint(home, "alice"), mint(home, "bob")
        first, second = session(server, alice), session(server, bob)
        third = session(server, bob)
        assert ping(server, alice, first) == 200  # now the most recently used
        fourth = session(server, alice)  # the server is full: bob's `second`, idle longest, makes room
        assert [ping(server, alice, first), ping(server, bob, second), ping(server, bob, third)] == [200, 404, 200]
        assert ping(server, alice, fourth) == 200


async def test_when_every_session_is_busy_a_new_one_is_too_many_requests(home: Path) -> None:
    with (
        spawn_http(home, BROWSA_WARM_SPARES="0", BROWSA_MAX_HTTP_SESSIONS_PER_KEY="2") as server,
        ExitStack() as held,
    ):
        alice = mint(home, "alice")
        http = held.enter_context(httpx.Client(timeout=httpx.Timeout(10, read=None)))
        busy = [session(server, alice), session(server, alice)]
        for sid in busy:  # an open event stream is a request in flight: the session is in use
            stream = held.enter_context(http.stream("GET", server.url, headers=headers(alice, sid)))
            assert stream.status_code == 200

        refused = open_session(server, alice)
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["code"] == "TOO_MANY_REQUESTS" and body["retry_after"] > 0
        assert body["request_id"] == refused.headers["x-request-id"]
        assert int(refused.headers["retry-after"]) >= 1
        assert "2 sessions" in body["error"]

        # The SDK's own client speaks the sessionless protocol era: it holds no session, so the cap never stops it.
        async with http_client(base_url(server), alice) as client:
            assert any(t.name == "scrape" for t in (await client.list_tools()).tools)
        assert all(ping(server, alice, sid) == 200 for sid in busy)  # nothing was evicted

        held.close()  # the streams end: the sessions go idle, and room is made again
        assert session(server, alice)


def test_an_idle_session_ends_after_the_configured_idle_time(home: Path) -> None:
    with spawn_http(home, BROWSA_WARM_SPARES="0", BROWSA_HTTP_SESSION_IDLE_SECONDS="2") as server:
        alice = mint(home, "alice")
        sid = session(server, alice)
        assert ping(server, alice, sid) == 200
        deadline = time.monotonic() + 30
        while ping(server, alice, sid) == 200:  # each ping restarts the clock: poll slower than the idle time
            assert time.monotonic() < deadline, "the session outlived its idle time"
            time.sleep(2.5)  # idle time passing untouched is what is tested: a faster poll would keep it alive
