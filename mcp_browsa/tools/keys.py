"""Key tools: list, create and revoke API keys — only for the operator (stdio, or an admin key over HTTP).

Thin adapters over `KeyAdmin`; anyone else gets FORBIDDEN before anything is read or written.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.errors import Forbidden
from mcp_browsa.key_admin import MAX_KEY_NAME, KeyAdmin, KeyList
from mcp_browsa.server import BrowsaServer, caller_for, may_manage_keys
from mcp_browsa.storage.keys import ApiKey, MintedKey

__all__ = ["register"]


def _admin(app: Browsa, ctx: Context[Any, Any] | None) -> KeyAdmin:
    if not may_manage_keys(ctx):
        raise Forbidden(
            "managing API keys needs a key minted with `mcp-browsa keys create --admin` (or a stdio client)"
        )
    return KeyAdmin(app.db, initial_credits=app.settings.initial_credits)


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_keys(ctx: Context[Any, Any] | None = None) -> KeyList:
        """This workspace's API keys (prefix, name, last use, admin); each active key's `_links.revoke` is the call
        that revokes it. Admin keys and stdio only."""
        return await _admin(app, ctx).list_keys(caller_for(ctx).workspace_id)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False))
    async def create_key(
        name: Annotated[str, Field(max_length=MAX_KEY_NAME, description="A label to recognise the key by.")] = "",
        admin: Annotated[bool, Field(description="Whether the new key may manage keys too.")] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> MintedKey:
        """Mint an API key for this workspace. The key is in this answer only: only its sha256 is stored.
        Admin keys and stdio only."""
        return await _admin(app, ctx).create(caller_for(ctx).workspace_id, name=name, admin=admin)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def revoke_key(
        key_id: Annotated[str, Field(min_length=1, max_length=100, description="The key id (`key_…`).")],
        ctx: Context[Any, Any] | None = None,
    ) -> ApiKey:
        """Revoke a key of this workspace: every request with it is refused (401) from now on. Admin keys and
        stdio only."""
        return await _admin(app, ctx).revoke(caller_for(ctx).workspace_id, key_id)
