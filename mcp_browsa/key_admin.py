"""API keys managed through MCP tools: list (each with a link to revoke it), create (shown once), revoke.

Only the operator may: over stdio, or over HTTP with a key minted with `keys create --admin`. Each call acts in the
caller's workspace, so another workspace's key is NOT_FOUND.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mcp_browsa.errors import BadRequest, NotFound
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.keys import ApiKey, ApiKeyRepo, MintedKey

__all__ = ["MAX_KEY_NAME", "KeyAdmin", "KeyLink", "KeyList", "ListedKey"]

MAX_KEY_NAME = 100


class KeyLink(BaseModel):
    tool: str = Field(description="The tool to call.")
    arguments: dict[str, str] = Field(description="Its arguments.")


class ListedKey(ApiKey):
    model_config = ConfigDict(populate_by_name=True)

    links: dict[str, KeyLink] = Field(
        alias="_links", description="`revoke`: the tool call that revokes this key (harmless on a revoked one)."
    )


class KeyList(BaseModel):
    keys: list[ListedKey] = Field(description="This workspace's keys, oldest first, revoked ones included.")
    count: int = Field(description="How many keys are listed.")


def _listed(key: ApiKey) -> ListedKey:
    # Revoking is idempotent (the first time stands), so a revoked key keeps its link too.
    links = {"revoke": KeyLink(tool="revoke_key", arguments={"key_id": key.id})}
    return ListedKey(**key.model_dump(), links=links)


class KeyAdmin:
    def __init__(self, db: Database, *, initial_credits: int) -> None:
        self.repo = ApiKeyRepo(db)
        self.initial_credits = initial_credits

    async def list_keys(self, workspace_id: str) -> KeyList:
        keys = [_listed(k) for k in await self.repo.list_keys(workspace_id)]
        return KeyList(keys=keys, count=len(keys))

    async def create(self, workspace_id: str, *, name: str, admin: bool) -> MintedKey:
        if len(name) > MAX_KEY_NAME:
            raise BadRequest(f"name is {len(name)} characters; at most {MAX_KEY_NAME}")
        return await self.repo.mint(workspace_id, name=name, initial_credits=self.initial_credits, admin=admin)

    async def revoke(self, workspace_id: str, key_id: str) -> ApiKey:
        key_id = key_id.strip()
        if not any(k.id == key_id for k in await self.repo.list_keys(workspace_id)):
            raise NotFound(f"no API key {key_id[:80]!r} in this workspace; list_keys shows the key ids")
        return await self.repo.revoke(key_id)
