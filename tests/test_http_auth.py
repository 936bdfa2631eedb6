"""The HTTP transports as a security boundary: API keys, workspaces, revocation, Origin/Host checks, --no-auth.

A real `mcp-browsa serve` subprocess is driven with the `mcp` SDK client over streamable HTTP and SSE, keys are
minted and revoked with the real CLI, and one in-process test checks that the workspace set by the HTTP layer
reaches the tool handler (contextvar and request state).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError

from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.http import build_http_app
from mcp_browsa.server import build_server, caller_for, current_workspace
from tests.support.mcp_server import HttpServer, envelope, free_port, run_cli, spawn_http

pytestmark = pytest.mark.anyio

INITIAL = "77"


@pytest.fixture
def home() -> Iterator[Path]:
    # Short on purpose: Chromium's singleton socket under the server's TMPDIR must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def http_client(base: str, key: str | None) -> AsyncIterator[Client]:
    headers = {"X-API-Key": key} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(base + "/mcp", http_client=http)) as client,
    ):
        yield client


@asynccontextmanager
async def sse(base: str, key: str | None, **headers: str) -> AsyncIterator[Client]:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    async with Client(sse_client(base + "/sse", headers=headers)) as client:
        yield client


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple):
        return [leaf for e in inner for leaf in leaves(e)]
    return [exc]


def base_url(server: HttpServer) -> str:
    return f"http://127.0.0.1:{server.port}"


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


def mint(home: Path, workspace: str) -> str:
    done = run_cli(
        home, "keys", "mint", "--workspace", workspace, "--name", f"{workspace} key", BROWSA_INITIAL_CREDITS=INITIAL
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("agt_live_") and len(key) == len("agt_live_") + 24
    return key


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.meta is not None and str(result.meta["request_id"]).startswith("req_")
    assert result.structured_content is not None
    return result.structured_content


async def test_keys_pick_the_workspace_and_nothing_crosses_it(home: Path) -> None:
    with spawn_http(home, BROWSA_INITIAL_CREDITS=INITIAL, BROWSA_WARM_SPARES="0") as server:
        # Before any key exists every request is refused, with the fix in the message.
        first = refused(post(server), 401, "UNAUTHORIZED")
        assert "mcp-browsa keys mint" in first["error"]
        assert post(server).headers["www-authenticate"].startswith("Bearer")

        acme, globex = mint(home, "acme"), mint(home, "globex")
        assert "keys mint" not in refused(post(server), 401, "UNAUTHORIZED")["error"]
        assert "malformed" in refused(post(server, **{"X-API-Key": "agt_live_nothex"}), 401, "UNAUTHORIZED")["error"]
        assert (
            "not valid" in refused(post(server, **{"X-API-Key": "agt_live_" + "0" * 24}), 401, "UNAUTHORIZED")["error"]
        )
        accepted = post(server, Authorization=f"Bearer {acme}")
        assert accepted.status_code == 200 and accepted.headers["x-request-id"].startswith("req_")

        with pytest.raises(Exception) as no_key:
            async with http_client(base_url(server), None) as client:
                await client.list_tools()
        assert any(isinstance(e, MCPError) for e in leaves(no_key.value))

        async with http_client(base_url(server), acme) as a:
            hook = await ok(a, "create_webhook", url="https://hooks.example.com/in")
            job = await ok(a, "scrape", url=f"http://localhost:{free_port()}/", **{"async": True})
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
                ]:
                    result = await b.call_tool(tool, args)
                    assert envelope(result)["code"] == "NOT_FOUND", tool
                    assert result.meta is not None and result.meta["request_id"] == envelope(result)["request_id"]
                assert (await ok(b, "list_jobs"))["count"] == 0
                assert (await ok(b, "list_webhooks"))["count"] == 0
                credits = await ok(b, "credits")
                assert credits["workspace_id"] == "globex" and credits["balance"] == int(INITIAL)
                with pytest.raises(MCPError):
                    await b.read_resource(f"browsa://jobs/{job['id']}")

        listed = run_cli(home, "keys", "list")
        assert "acme" in listed.stdout and "globex" in listed.stdout and "last used never" not in listed.stdout
        key_id = next(line.split()[0] for line in listed.stdout.splitlines() if " acme " in line)
        assert run_cli(home, "keys", "revoke", key_id).returncode == 0

        assert "revoked" in refused(post(server, **{"X-API-Key": acme}), 401, "UNAUTHORIZED")["error"]
        with pytest.raises(httpx2.HTTPStatusError) as revoked_sse:
            async with sse(base_url(server), acme) as client:
                await client.list_tools()
        assert revoked_sse.value.response.status_code == 401
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
            deadline = anyio.current_time() + 20
            while not web.started:
                assert anyio.current_time() < deadline, "uvicorn did not start"
                await anyio.sleep(0.02)
            for ws, key in keys.items():
                for connect in (http_client, sse):
                    async with connect(f"http://127.0.0.1:{port}", key) as client:
                        seen = await ok(client, "whoami")
                    assert seen == {"contextvar": ws, "caller": ws}, (connect.__name__, seen)
            web.should_exit = True
