"""Webhook tools: create (the signing secret is shown once), list, delete, ping, and the delivery log.

Thin adapters over `app.webhooks`; every call acts in the caller's workspace, so another workspace's webhook is
NOT_FOUND.
"""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.models.webhooks import PingResult, WebhookCreated, WebhookDeleted, WebhookDeliveries, WebhookList
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import Cursor
from mcp_browsa.webhooks.service import MAX_DELIVERIES_LIMIT
from mcp_browsa.webhooks.signing_secret import SigningSecret

__all__ = ["register"]

EventType = Literal[
    "job.completed",
    "job.failed",
    "job.input_required",
    "agent.provisioned",
    "agent.destroyed",
    "agent.failed",
    "agent.session.started",
    "agent.session.ended",
    "webhook.test",
]
WebhookId = Annotated[str, Field(min_length=1, max_length=100, description="The webhook id (`wh_…`).")]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def create_webhook(
        url: Annotated[str, Field(max_length=2048, description="Absolute http(s) URL that receives the events.")],
        events: Annotated[
            list[EventType],
            Field(max_length=20, description="Event types to send; empty (the default) means every type."),
        ] = [],  # noqa: B006 - pydantic copies defaults
        own_secret: Annotated[
            bool,
            Field(description="true: its own secret, shown once; false: the workspace's (webhook_signing_secret)."),
        ] = True,
        ctx: Context[Any, Any] | None = None,
    ) -> WebhookCreated:
        """Register an endpoint for job and agent events; signed POSTs, retried about a day, 410 disables it."""
        return await app.webhooks.create(caller_for(ctx).workspace_id, url, list(events), own_secret=own_secret)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def webhook_signing_secret(ctx: Context[Any, Any] | None = None) -> SigningSecret:
        """The workspace's webhook signing secret (for endpoints with own_secret=false)."""
        return await app.webhooks.signing_secret(caller_for(ctx).workspace_id)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_webhooks(ctx: Context[Any, Any] | None = None) -> WebhookList:
        """List this workspace's webhooks (secrets are never shown again)."""
        return await app.webhooks.list_webhooks(caller_for(ctx).workspace_id)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def delete_webhook(webhook_id: WebhookId, ctx: Context[Any, Any] | None = None) -> WebhookDeleted:
        """Delete a webhook, its pending deliveries and its delivery log."""
        return await app.webhooks.delete(caller_for(ctx).workspace_id, webhook_id)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def ping_webhook(webhook_id: WebhookId, ctx: Context[Any, Any] | None = None) -> PingResult:
        """Send a `webhook.test` event now; says whether the endpoint took it."""
        return await app.webhooks.ping(caller_for(ctx).workspace_id, webhook_id)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def webhook_deliveries(
        webhook_id: WebhookId,
        limit: Annotated[
            int, Field(ge=1, le=MAX_DELIVERIES_LIMIT, description="How many attempts to show, newest first.")
        ] = 50,
        cursor: Cursor = None,
        ctx: Context[Any, Any] | None = None,
    ) -> WebhookDeliveries:
        """A webhook's delivery attempts, a page at a time, and how many are pending."""
        return await app.webhooks.deliveries(caller_for(ctx).workspace_id, webhook_id, limit=limit, cursor=cursor)
