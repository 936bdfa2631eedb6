"""The HTTP transports as a security boundary: API keys, workspaces, revocation, Origin/Host checks, --no-auth.

A real `mcp-browsa serve` subprocess is driven with the `mcp` SDK client over streamable HTTP and SSE, keys are
minted and revoked with the real CLI, and one in-process test checks that the workspace set by the HTTP layer
reaches the tool handler (contextvar and request state).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError

from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.http import build_http_app
from mcp_browsa.server import caller_for, current_workspace
from mcp_browsa.storage.keys import SHOWN_PREFIX_LEN, hash_key
from mcp_browsa.tools.assemble import build_server
from tests.support.http_keys import Connect, base_url, http_client, leaves, mint, sse
from tests.support.mcp_server import HttpServer, envelope, free_port, run_cli, spawn_http
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

INITIAL = "77"
CREDITS = {"BROWSA_INITIAL_CREDITS": INITIAL}


def post(server: HttpServer, **headers: str) -> httpx.Response:
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
    headers.setdefault("Accept", "application/json, text/event-stream")
    return httpx.post(server.url, json=body, headers=headers, timeout=10)


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.meta is not None and str(result.meta["request_id"]).startswith("req_")
    assert result.structured_content is not None
    return result.structured_content


def data_dir_bytes(home: Path) -> bytes:
    """Every byte under the data dir: the database with its WAL, and whatever else the server wrote."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


async def test_keys_pick_the_workspace_and_nothing_crosses_it(home: Path) -> None:
    with spawn_http(home, BROWSA_WARM_SPARES="0", **CREDITS) as server:
        # Before any key exists every request is refused, with the fix in the message.
        first = refused(post(server), 401, "UNAUTHORIZED")
        assert "mcp-browsa keys mint" in first["error"]
        assert post(server).headers["www-authenticate"].startswith("Bearer")

        acme, globex = mint(home, "acme", **CREDITS), mint(home, "globex", **CREDITS)
        idle = mint(home, "idle", **CREDITS)
        assert "keys mint" not in refused(post(server), 401, "UNAUTHORIZED")["error"]
        assert "malformed" in refused(post(server, **{"X-API-Key": "agt_live_nothex"}), 401, "UNAUTHORIZED")["error"]
        assert (
            "not valid" in refused(post(server, **{"X-API-Key": "agt_live_" + "0" * 24}), 401, "UNAUTHORIZED")["error"]
        )
        accepted = post(server, Authorization=f"Bearer {acme}")
        assert accepted.status_code == 200 and accepted.headers["x-request-id"].startswith("req_")

        async with http_client(base_url(server), acme) as a:
            hook = await ok(a, "create_webhook", url="https://hooks.example.com/in")
            job = await ok(a, "scrape", url=f"http://localhost:{free_port()}/", **{"async": True})
            made = await ok(a, "create_identity", persona="acme shopper")
            identity = await ok(a, "get_identity", identity_id=made["id"])
            assert identity["mode"] == "persistent" and identity["status"] == "running"
            assert (await ok(a, "list_jobs"))["count"] == 1
            assert (await ok(a, "credits"))["workspace_id"] == "acme"

        for connect in (sse, http_client):
            async with connect(base_url(server), globex) as b:
                for tool, args in [
                    ("get_job", {"job_id": job["id"], "wait": 0}),
                    ("cancel_job", {"job_id": job["id"]}),
                    ("delete_webhook", {"webhook_id": hook["id"]}),
                    ("ping_webhook", {"webhook_id": hook["id"]}),
                    ("webhook_deliveries", {"webhook_id": hook["id"]}),
                    ("get_identity", {"identity_id": identity["id"]}),
                    ("open_session", {"identity_id": identity["id"], "ttl": "5m"}),
                    ("destroy_identity", {"identity_id": identity["id"]}),
                ]:
                    result = await b.call_tool(tool, args)
                    assert envelope(result)["code"] == "NOT_FOUND", tool
                    assert result.meta is not None and result.meta["request_id"] == envelope(result)["request_id"]
                assert (await ok(b, "list_jobs"))["count"] == 0
                assert (await ok(b, "list_webhooks"))["count"] == 0
                assert (await ok(b, "list_identities"))["count"] == 0
                credits = await ok(b, "credits")
                assert credits["workspace_id"] == "globex" and credits["balance"] == int(INITIAL)
                with pytest.raises(MCPError):
                    await b.read_resource(f"browsa://jobs/{job['id']}")

        # Nothing globex tried reached acme's identity: no session was opened on it and it was not destroyed.
        async with http_client(base_url(server), acme) as a:
            assert await ok(a, "get_identity", identity_id=identity["id"]) == identity

        # Only the sha256 of a key is kept: not the key, nor its secret part, anywhere in the data dir.
        stored = data_dir_bytes(home)
        for key in (acme, globex, idle):
            assert key.encode() not in stored and key[len("agt_live_") :].encode() not in stored
            assert hash_key(key).encode() in stored

        listed = run_cli(home, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        lines = {line.split()[2]: line for line in listed.stdout.splitlines()}  # by workspace
        for workspace, key in (("acme", acme), ("globex", globex)):
            assert f"  {key[:SHOWN_PREFIX_LEN]}…  " in lines[workspace] and key not in listed.stdout
            assert re.search(r"last used \d{4}-\d\d-\d\d \d\d:\d\d", lines[workspace]), lines[workspace]
        assert lines["idle"].endswith("last used never")
        key_id = lines["acme"].split()[0]
        assert run_cli(home, "keys", "revoke", key_id).returncode == 0

        assert "revoked" in refused(post(server, **{"X-API-Key": acme}), 401, "UNAUTHORIZED")["error"]
        async with http_client(base_url(server), globex) as b:
            assert (await ok(b, "list_webhooks"))["count"] == 0  # the other key is unaffected

        # DNS rebinding: a foreign Origin or Host is refused even with a valid key.
        refused(post(server, Origin="http://evil.example", **{"X-API-Key": globex}), 403, "FORBIDDEN")
        refused(post(server, Host="evil.example", **{"X-API-Key": globex}), 403, "FORBIDDEN")
        with pytest.raises(httpx2.HTTPStatusError) as foreign:
            async with sse(base_url(server), globex, Origin="http://evil.example") as client:
                await client.list_tools()
        assert foreign.value.response.status_code == 403
        assert post(server, Origin=f"http://127.0.0.1:{server.port}", **{"X-API-Key": globex}).status_code == 200


# What each SDK transport raises when the server answers 401: streamable HTTP turns the refused POST into a
# JSON-RPC error; the SSE transport raises the refused GET's status.
SURFACED_AS: list[tuple[Connect, type[BaseException]]] = [(http_client, MCPError), (sse, httpx2.HTTPStatusError)]


async def refused_by_sdk(
    connect: Connect, surfaced_as: type[BaseException], server: HttpServer, key: str | None
) -> dict[str, Any]:
    """Connect with `key` and list tools, which must fail with `surfaced_as`; returns the 401 envelope on the wire."""
    refusals: list[httpx2.Response] = []
    with pytest.raises(Exception) as raised:
        async with connect(base_url(server), key, refusals) as client:
            await client.list_tools()
    (surfaced,) = [e for e in leaves(raised.value) if isinstance(e, surfaced_as)]
    if isinstance(surfaced, httpx2.HTTPStatusError):
        assert surfaced.response.status_code == 401
    assert refusals and {r.status_code for r in refusals} == {401}, refusals
    response = refusals[0]
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    assert body["code"] == "UNAUTHORIZED" and body["request_id"] == response.headers["x-request-id"]
    return body


async def test_the_sdk_client_without_a_valid_key_is_refused_on_both_transports(home: Path) -> None:
    with spawn_http(home, BROWSA_WARM_SPARES="0") as server:
        live, revoked = mint(home, "live"), mint(home, "gone")
        gone_id = next(
            line.split()[0] for line in run_cli(home, "keys", "list").stdout.splitlines() if " gone " in line
        )
        assert run_cli(home, "keys", "revoke", gone_id).returncode == 0
        bad_keys = [
            (None, "an API key is required"),
            ("agt_live_nothex", "malformed"),
            ("agt_live_" + "0" * 24, "not valid"),
            (revoked, "revoked"),
        ]

        for connect, surfaced_as in SURFACED_AS:
            async with connect(base_url(server), live) as client:  # the same transport with a good key works
                assert (await ok(client, "credits"))["workspace_id"] == "live"
            for key, reason in bad_keys:
                body = await refused_by_sdk(connect, surfaced_as, server, key)
                assert reason in body["error"], (connect.__name__, key, body)


async def test_a_failed_call_leaves_its_request_id_in_the_server_log(home: Path) -> None:
    secret_url = "ftp://user:hunter2-in-the-url@example.com/file"
    with spawn_http(home, "--no-auth", BROWSA_WARM_SPARES="0") as server:
        async with http_client(base_url(server), None) as client:
            calls = {
                "NOT_FOUND": await client.call_tool("get_job", {"job_id": "6f1c1e2a-0000-4000-8000-000000000000"}),
                "BAD_REQUEST": await client.call_tool("scrape", {"url": secret_url}),
            }
        server.stop()
        log = server.log.read_text()

    for code, result in calls.items():
        request_id = envelope(result)["request_id"]
        lines = [line for line in log.splitlines() if request_id in line]
        assert len(lines) == 1 and "WARNING" in lines[0] and code in lines[0], (code, request_id, log[-2000:])
    assert "hunter2" not in log and "6f1c1e2a" not in log  # neither arguments nor what the call sent


async def test_no_auth_is_for_loopback_only(home: Path) -> None:
    refused_start = run_cli(home, "serve", "--transport", "http", "--host", "0.0.0.0", "--no-auth", timeout=60)
    assert refused_start.returncode == 2
    assert refused_start.stderr.strip().count("\n") == 0 and "--no-auth" in refused_start.stderr

    with spawn_http(home, "--no-auth", BROWSA_WARM_SPARES="0") as server:
        async with http_client(base_url(server), None) as client:
            assert (await ok(client, "credits"))["workspace_id"] == "ws_default"
        refused(post(server, Origin="http://evil.example"), 403, "FORBIDDEN")


async def test_workspace_reaches_the_tool_handler_in_process(tmp_path: Path) -> None:
    """The HTTP layer sets `current_workspace` in ASGI middleware; the SDK runs handlers in other tasks, so check
    that both the contextvar and the request state arrive there, over streamable HTTP and SSE."""
    port = free_port()
    app = Browsa(load_settings(env={"BROWSA_HOME": str(tmp_path)}))
    async with app.running(workers=False):
        server = build_server(app, groups=("account",))

        @server.tool()
        async def whoami(ctx: Context[Any, Any] | None = None) -> dict[str, str]:
            return {"contextvar": current_workspace.get(), "caller": caller_for(ctx).workspace_id}

        keys = {ws: (await app.keys.mint(ws)).key for ws in ("ws-one", "ws-two")}
        asgi = build_http_app(server, host="127.0.0.1", port=port, keys=app.keys)
        web = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(web.serve)
            await wait_until(lambda: web.started, "uvicorn started", timeout=20, interval=0.02)
            for ws, key in keys.items():
                for connect in (http_client, sse):
                    async with connect(f"http://127.0.0.1:{port}", key) as client:
                        seen = await ok(client, "whoami")
                    assert seen == {"contextvar": ws, "caller": ws}, (connect.__name__, seen)
            web.should_exit = True


def test_a_session_answers_only_the_key_that_opened_it(home: Path) -> None:
    """Knowing a session's id is not enough: another key, even one of the same workspace, is told the session does
    not exist, on streamable HTTP and on SSE; the key that opened it goes on working."""
    with spawn_http(home, BROWSA_WARM_SPARES="0") as server:
        alice, alice_again, bob = mint(home, "alice"), mint(home, "alice"), mint(home, "bob")
        others = {"bob": bob, "alice's other key": alice_again}

        opened = post(server, **{"X-API-Key": alice})
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]

        def list_tools(key: str) -> httpx.Response:
            return httpx.post(
                server.url,
                json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                headers={
                    "X-API-Key": key,
                    "mcp-session-id": session,
                    "mcp-protocol-version": "2025-06-18",
                    "Accept": "application/json, text/event-stream",
                },
                timeout=10,
            )

        for who, key in others.items():
            assert list_tools(key).status_code == 404, who
        answered = list_tools(alice)
        assert answered.status_code == 200 and '"scrape"' in answered.text, answered.text

        with (
            httpx.Client(base_url=base_url(server), timeout=10) as http,
            http.stream("GET", "/sse", headers={"Authorization": f"Bearer {alice}"}) as stream,
        ):
            lines = stream.iter_lines()
            endpoint = next(line for line in lines if line.startswith("data:")).removeprefix("data:").strip()
            assert "session_id=" in endpoint, endpoint
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            for who, key in others.items():
                sent = http.post(endpoint, json=ping, headers={"Authorization": f"Bearer {key}"})
                assert sent.status_code == 404, who
            sent = http.post(endpoint, json=ping, headers={"Authorization": f"Bearer {alice}"})
            assert sent.status_code == 202, sent.text
