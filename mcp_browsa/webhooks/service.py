"""The webhook service the app composes: endpoints per workspace, ping, the delivery log and the delivery worker.

Tools and the CLI call these methods; the engine reaches webhooks only through the outbox (`enqueue_event` and the
job finish hook), so a delivery never slows down or fails the work it reports.
"""

from __future__ import annotations

import logging

from anyio.abc import TaskGroup

from mcp_browsa.errors import BadRequest
from mcp_browsa.events import EngineEvent, EventBus
from mcp_browsa.models.webhooks import (
    MAX_DELIVERIES_LIMIT,
    PingResult,
    WebhookCreated,
    WebhookDeleted,
    WebhookDeliveries,
    WebhookList,
)
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.jobs import FinishHook
from mcp_browsa.storage.webhooks import WORKSPACE_SIGNED, WebhookRepo
from mcp_browsa.validation import check_http_url
from mcp_browsa.webhooks.delivery import DeliveryConfig, DeliveryWorker
from mcp_browsa.webhooks.egress import Blocked, EgressRule
from mcp_browsa.webhooks.events import EVENT_TYPES, check_event_types, enqueue_event, job_finish_hook
from mcp_browsa.webhooks.signing import new_secret
from mcp_browsa.webhooks.signing_secret import SigningSecret, WorkspaceSecrets

__all__ = ["MAX_DELIVERIES_LIMIT", "MAX_WEBHOOKS", "WebhookService"]

log = logging.getLogger(__name__)

MAX_WEBHOOKS = 50  # per workspace


class WebhookService:
    def __init__(
        self,
        db: Database,
        *,
        private_network: str,
        owner: str,
        config: DeliveryConfig | None = None,
    ) -> None:
        self.db = db
        self.repo = WebhookRepo(db)
        self.secrets = WorkspaceSecrets(db)
        self.egress = EgressRule(private_network)
        self.config = config or DeliveryConfig()
        self.worker = DeliveryWorker(self.repo, self.egress, self.config, owner=owner)

    def attach(self, finish_hooks: list[FinishHook], bus: EventBus) -> None:
        """Write job.completed / job.failed in the transaction that ends a job; wake the worker after commit."""
        finish_hooks.append(job_finish_hook)
        # Every process delivering webhooks looks for due rows at once, whichever process wrote them.
        bus.on_signal("webhook", self.worker.wake)

        async def on_event(event: EngineEvent) -> None:
            if event.type in EVENT_TYPES:
                bus.signal("webhook")

        bus.subscribe(on_event)

    def start(self, tg: TaskGroup) -> None:
        tg.start_soon(self.worker.run)

    # -- endpoints ------------------------------------------------------------------------------

    async def create(
        self, workspace_id: str, url: str, events: list[str] | None = None, *, own_secret: bool = True
    ) -> WebhookCreated:
        url = check_http_url(url)
        if "\\" in url or any(c.isspace() for c in url):
            raise BadRequest("url contains backslashes or spaces; give the endpoint's plain absolute URL")
        try:
            wanted = check_event_types(list(events or []))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        try:
            self.egress.check_static(url)
        except Blocked as exc:
            raise BadRequest(f"this server may not deliver to {url[:200]}: {exc}") from exc
        if len(await self.repo.list_for(workspace_id)) >= MAX_WEBHOOKS:
            raise BadRequest(f"a workspace can have at most {MAX_WEBHOOKS} webhooks; delete one first")
        if not own_secret:
            await self.secrets.get_or_create(workspace_id)  # there before the first delivery needs it
            hook = await self.repo.create(workspace_id, url, wanted, WORKSPACE_SIGNED)
            return WebhookCreated(**hook.model_dump())
        secret = new_secret()
        hook = await self.repo.create(workspace_id, url, wanted, secret)
        return WebhookCreated(**hook.model_dump(), secret=secret)

    async def signing_secret(self, workspace_id: str) -> SigningSecret:
        return await self.secrets.describe(workspace_id)

    async def list_webhooks(self, workspace_id: str) -> WebhookList:
        hooks = await self.repo.list_for(workspace_id)
        return WebhookList(webhooks=hooks, count=len(hooks))

    async def delete(self, workspace_id: str, webhook_id: str) -> WebhookDeleted:
        await self.repo.delete(workspace_id, webhook_id)
        return WebhookDeleted(id=webhook_id.strip())

    async def deliveries(
        self, workspace_id: str, webhook_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> WebhookDeliveries:
        if not 1 <= limit <= MAX_DELIVERIES_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_DELIVERIES_LIMIT}")
        hook = await self.repo.get(workspace_id, webhook_id)
        attempts, next_cursor, total = await self.repo.attempts(hook.id, limit, cursor)
        return WebhookDeliveries(
            webhook_id=hook.id,
            attempts=attempts,
            count=len(attempts),
            pending=await self.repo.pending_count(hook.id),
            next_cursor=next_cursor,
            total=total,
        )

    async def ping(self, workspace_id: str, webhook_id: str) -> PingResult:
        """Send a webhook.test event now and report the first attempt; a failure is retried like any event."""
        hook = await self.repo.get(workspace_id, webhook_id)
        if hook.status == "disabled":
            raise BadRequest(
                f"webhook {hook.id} is disabled ({hook.disabled_reason}); delete it and create it again to resume"
            )
        async with self.db.transaction() as conn:
            event_id = await enqueue_event(
                conn,
                workspace_id,
                "webhook.test",
                {"webhook_id": hook.id, "message": "a test event sent by ping_webhook"},
                webhook_id=hook.id,
            )
            assert event_id is not None
            # Leased in the enqueuing transaction, so the background worker never races this first attempt.
            claimed = await self.repo.claim_event(conn, event_id, hook.id, self.worker.owner, self.config.lease_seconds)
        assert claimed is not None
        outcome, _number = await self.worker.deliver(claimed)
        outbox_id = claimed.id
        return PingResult(
            webhook_id=hook.id,
            event_id=event_id,
            delivered=outcome.delivered,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            next_attempt_at=None if outcome.delivered else await self.repo.next_attempt_at(outbox_id),
        )
