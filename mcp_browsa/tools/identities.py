"""Identity tools: create, list, get (with live trust and fingerprint), destroy, and sessions on persistent identities.

Thin adapters over `app.identities`; every call acts in the caller's workspace, so another workspace's identity is
NOT_FOUND.
"""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.identities import Identity, IdentityList, build_spec
from mcp_browsa.identities.models import Include, OsTypeName
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import Cursor

__all__ = ["register"]

IdentityId = Annotated[str, Field(min_length=1, max_length=100, description="The identity id (`agt_…`).")]
Ttl = Annotated[
    str | None,
    Field(max_length=20, description='How long the browser lives: "90s", "5m", "1h" (at most 1h).'),
]
TtlSeconds = Annotated[float | None, Field(ge=5, le=3600, description="The same as ttl, in seconds.")]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def create_identity(
        mode: Annotated[
            Literal["burner", "persistent"] | None,
            Field(description="burner (until its TTL) or persistent (cookies kept)."),
        ] = None,
        ttl: Ttl = None,
        ttl_seconds: TtlSeconds = None,
        initial_url: Annotated[
            str | None, Field(max_length=4096, description="Page the browser opens on (http/https).")
        ] = None,
        os_type: Annotated[OsTypeName | None, Field(description="OS the fingerprint presents (default Linux).")] = None,
        country: Annotated[
            str | None,
            Field(
                min_length=2,
                max_length=2,
                description="ISO country code (locale and time zone follow it).",
            ),
        ] = None,
        persona: Annotated[str | None, Field(max_length=200, description="Your label for the identity.")] = None,
        warmup_recipe: Annotated[
            str | None, Field(max_length=100, description="Operator-defined URLs visited first.")
        ] = None,
        allowed_domains: Annotated[
            list[Annotated[str, Field(max_length=253)]] | None,
            Field(max_length=100, description="Hosts it may contact (`*.x.com` wildcards); default any."),
        ] = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Identity:
        """Create a browser identity (trust score 0–1000): a burner (CDP URL until its TTL) or a persistent one
        (cookies kept; drive it with open_session(identity_id=…))."""
        spec = build_spec(
            mode=mode,
            ttl=ttl,
            ttl_seconds=ttl_seconds,
            os_type=os_type,
            country=country,
            persona=persona,
            warmup_recipe=warmup_recipe,
            initial_url=initial_url,
            allowed_domains=allowed_domains,
            recipes=app.settings.warmup_recipes,
        )
        return await app.identities.create(caller_for(ctx).workspace_id, spec)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_identities(
        mode: Annotated[Literal["burner", "persistent"] | None, Field(description="Only this mode.")] = None,
        status: Annotated[
            Literal["queued", "running", "destroyed", "failed"] | None, Field(description="Only this status.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="How many, newest first.")] = 20,
        cursor: Cursor = None,
        ctx: Context[Any, Any] | None = None,
    ) -> IdentityList:
        """List identities, newest first, a page at a time (`next_cursor`)."""
        return await app.identities.list_identities(
            caller_for(ctx).workspace_id, mode=mode, status=status, limit=limit, cursor=cursor
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_identity(
        identity_id: IdentityId,
        include: Annotated[
            list[Include] | None,
            Field(
                max_length=3,
                description='Measure now: "trust", "detection" or "fingerprint".',
            ),
        ] = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Identity:
        """Get an identity; `include` re-measures it in the live browser."""
        return await app.identities.get(caller_for(ctx).workspace_id, identity_id, include=list(include or []))

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def destroy_identity(identity_id: IdentityId, ctx: Context[Any, Any] | None = None) -> Identity:
        """End an identity and its browser; a persistent one's stored state is deleted."""
        return await app.identities.destroy(caller_for(ctx).workspace_id, identity_id)
