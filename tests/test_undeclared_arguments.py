"""An argument a tool does not declare is refused, for every tool the server lists, before the tool does anything.

A typo that were silently dropped could change what a call does: `destroy_identity(id, session_only=true)` must not
destroy the identity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from tests.support.mcp_server import call, envelope, ok, spawn_http, stdio_client

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    home: Path = tmp_path_factory.mktemp("undeclared")
    async with stdio_client(home) as c:
        yield c


async def _state(client: Client) -> tuple[list[str], int, list[str]]:
    jobs = [j["id"] for j in ok(await call(client, "list_jobs", {"limit": 200}))["jobs"]]
    identities = [a["id"] for a in ok(await call(client, "list_identities", {"limit": 200}))["agents"]]
    return jobs, ok(await call(client, "credits"))["balance"], identities


async def test_every_listed_tool_refuses_an_argument_it_does_not_declare(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) >= 20  # every group is on by default
    before = await _state(client)
    for tool in tools:
        declared = sorted(tool.input_schema.get("properties", {}))
        body = envelope(await call(client, tool.name, {"zz_not_an_argument": 1}))
        assert body["code"] == "BAD_REQUEST", (tool.name, body)
        assert "'zz_not_an_argument'" in body["error"] and "nothing was done" in body["error"], body
        assert body["unknown_arguments"] == ["zz_not_an_argument"]
        if declared:
            # A near miss of a real argument is answered with that argument's name.
            typo = declared[0] + "x"
            near = envelope(await call(client, tool.name, {typo: 1}))
            assert f"did you mean {declared[0]!r}?" in near["error"], (tool.name, near)
    assert await _state(client) == before  # no job, no charge, no identity: nothing ran


async def test_a_call_with_only_declared_arguments_still_runs(client: Client) -> None:
    # Aliased names (`async`) and optional arguments are declared: the check must not refuse them.
    assert ok(await call(client, "list_jobs", {"limit": 5, "status": "completed"}))["jobs"] == []
    body = envelope(await call(client, "scrape", {"url": "http://127.0.0.1:9/", "async": True, "formats": ["html"]}))
    assert body["code"] == "FORBIDDEN"  # got past the argument check to the URL guard


async def test_destroy_identity_with_a_typo_destroys_nothing(client: Client) -> None:
    created = ok(await call(client, "create_identity", {"mode": "persistent", "persona": "keeper"}))
    body = envelope(await call(client, "destroy_identity", {"identity_id": created["id"], "session_only": True}))
    assert body["code"] == "BAD_REQUEST"
    assert "'session_only'" in body["error"] and "identity_id" in body["error"]
    still = ok(await call(client, "get_identity", {"identity_id": created["id"]}))
    assert still["status"] == "running"
    assert ok(await call(client, "destroy_identity", {"identity_id": created["id"]}))["status"] == "destroyed"


async def test_over_http_too(home: Path) -> None:
    with spawn_http(home, "--no-auth") as server:
        async with Client(server.url) as http_client:
            body = envelope(await http_client.call_tool("list_jobs", {"limt": 5}))
    assert body["code"] == "BAD_REQUEST" and "did you mean 'limit'?" in body["error"]
