"""API keys as MCP tools over real HTTP: an admin key (minted with `keys create --admin`) lists, creates and revokes
keys of its workspace; an ordinary key and --no-auth get FORBIDDEN and change nothing; a stdio client may.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support.http_keys import base_url, http_client, mint
from tests.support.mcp_server import envelope, run_cli, spawn_http, stdio_client

pytestmark = pytest.mark.anyio


def mint_admin(home: Path, workspace: str) -> str:
    done = run_cli(home, "keys", "create", "--admin", "--workspace", workspace, "--name", "ops")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def forbidden(client: Client, tool: str, **arguments: Any) -> None:
    body = envelope(await client.call_tool(tool, arguments))
    assert body["code"] == "FORBIDDEN" and "keys create --admin" in body["error"], body


async def test_admin_keys_manage_keys_and_other_keys_are_forbidden(home: Path) -> None:
    with spawn_http(home, BROWSA_WARM_SPARES="0") as server:
        admin_key, plain_key = mint_admin(home, "acme"), mint(home, "acme")
        other_key = mint(home, "globex")
        async with http_client(base_url(server), admin_key) as admin:
            listed = await ok(admin, "list_keys")
            assert listed["count"] == 2 and [k["admin"] for k in listed["keys"]] == [True, False]
            assert all("key_hash" not in k and "key" not in k for k in listed["keys"])
            for key in listed["keys"]:
                assert key["_links"]["revoke"] == {"tool": "revoke_key", "arguments": {"key_id": key["id"]}}

            made = await ok(admin, "create_key", name="ci runner")
            assert made["key"].startswith("agt_live_") and made["workspace_id"] == "acme" and not made["admin"]
            shown = {k["id"]: k for k in (await ok(admin, "list_keys"))["keys"]}
            assert made["id"] in shown and "key" not in shown[made["id"]]  # the key itself is shown once

            async with http_client(base_url(server), made["key"]) as fresh:
                assert (await ok(fresh, "credits"))["balance"] >= 0  # the new key works
                await forbidden(fresh, "list_keys")

            plain_id = next(k["id"] for k in listed["keys"] if not k["admin"])
            async with http_client(base_url(server), plain_key) as plain:
                await forbidden(plain, "list_keys")
                await forbidden(plain, "create_key", name="sneaky")
                await forbidden(plain, "revoke_key", key_id=plain_id)
            assert len((await ok(admin, "list_keys"))["keys"]) == 3  # nothing was created by the refused calls

            revoked = await ok(admin, "revoke_key", key_id=made["id"])
            assert revoked["revoked_at"] is not None
            after = {k["id"]: k for k in (await ok(admin, "list_keys"))["keys"]}
            assert after[made["id"]]["revoked_at"] == revoked["revoked_at"]
            again = await ok(
                admin,
                after[made["id"]]["_links"]["revoke"]["tool"],
                **after[made["id"]]["_links"]["revoke"]["arguments"],
            )
            assert again["revoked_at"] == revoked["revoked_at"]  # following the link again keeps the first time

            globex_id = run_cli(home, "keys", "list", "--workspace", "globex").stdout.split()[0]
            stranger = envelope(await admin.call_tool("revoke_key", {"key_id": globex_id}))
            assert stranger["code"] == "NOT_FOUND"  # another workspace's key is not this admin's to revoke
        async with http_client(base_url(server), other_key) as other:
            assert (await ok(other, "credits"))["balance"] >= 0  # and it still works

        listing = run_cli(home, "keys", "list", "--workspace", "acme").stdout
        assert made["id"] in listing and "REVOKED" in listing and "admin" in listing

    with spawn_http(home, "--no-auth", BROWSA_WARM_SPARES="0") as open_server:
        async with http_client(base_url(open_server), None) as anonymous:
            await forbidden(anonymous, "list_keys")


async def test_a_stdio_client_manages_the_default_workspace_keys(home: Path) -> None:
    async with stdio_client(home, BROWSA_WARM_SPARES="0") as client:
        made = await ok(client, "create_key", name="laptop", admin=True)
        assert made["admin"] and made["workspace_id"] == "ws_default"
        listed = await ok(client, "list_keys")
        assert [k["id"] for k in listed["keys"]] == [made["id"]]
        assert (await ok(client, "revoke_key", key_id=made["id"]))["revoked_at"] is not None
