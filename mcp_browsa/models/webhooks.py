"""Public shapes of the webhook tools: endpoints, the secret shown once, delivery attempts and ping outcomes.

Field descriptions are what the host model reads in each webhook tool's output schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "MAX_DELIVERIES_LIMIT",
    "DeliveryAttempt",
    "PingResult",
    "Webhook",
    "WebhookCreated",
    "WebhookDeleted",
    "WebhookDeliveries",
    "WebhookList",
]

MAX_DELIVERIES_LIMIT = 200  # attempts one delivery listing shows at most

SIGNING_HELP = (
    "Every delivery is a POST of the JSON envelope {id, type, created_at, workspace_id, data}, signed twice: "
    "`X-Agents-Signature` = hex HMAC-SHA256 of the raw body keyed with the secret string (UTF-8), and the "
    "Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,` + base64 HMAC-SHA256 "
    'of "{id}.{timestamp}.{body}" keyed with the base64-decoded part of the secret after `whsec_`), which any '
    "Standard Webhooks library verifies. The event id stays the same across retries: use it to deduplicate."
)


class Webhook(BaseModel):
    id: str = Field(description="Webhook id (`wh_…`).")
    url: str = Field(description="Where events are POSTed.")
    events: list[str] = Field(description="Event types delivered; empty means every type.")
    status: Literal["active", "disabled"] = Field(description="disabled after the endpoint answered 410 Gone.")
    created_at: float = Field(description="Unix time it was created.")
    disabled_at: float | None = Field(None, description="Unix time it was disabled.")
    disabled_reason: str | None = Field(None, description="Why it was disabled.")
    signed_with: Literal["endpoint", "workspace"] = Field(
        "endpoint",
        description="endpoint: its own secret, shown once at creation; workspace: the workspace signing secret "
        "(webhook_signing_secret).",
    )


class WebhookCreated(Webhook):
    secret: str | None = Field(
        None,
        description="The endpoint's own signing secret (`whsec_…`). Shown only now: store it to verify deliveries. "
        "None when it is signed with the workspace secret (webhook_signing_secret).",
    )
    signing: str = Field(SIGNING_HELP, description="How deliveries are signed and how to verify them.")


class WebhookList(BaseModel):
    webhooks: list[Webhook] = Field(description="Newest first.")
    count: int = Field(description="How many webhooks are listed.")


class WebhookDeleted(BaseModel):
    id: str = Field(description="The webhook that was deleted.")
    deleted: bool = Field(True, description="Always true; pending deliveries to it are dropped.")


class DeliveryAttempt(BaseModel):
    id: int = Field(description="Attempt sequence number.")
    event_id: str = Field(description="Event id (`evt_…`), the same on every attempt of one event.")
    event_type: str = Field(description="Event type, e.g. job.completed.")
    attempt: int = Field(description="1 for the first try, 2 for the first retry, …")
    created_at: float = Field(description="Unix time of the attempt.")
    status_code: int | None = Field(None, description="HTTP status the endpoint answered, if it answered.")
    error: str | None = Field(None, description="Why the attempt failed (status, timeout, refused, blocked).")
    duration_ms: int | None = Field(None, description="How long the attempt took.")
    delivery_status: Literal["pending", "delivered", "failed", "cancelled"] = Field(
        description="Where the event stands now: delivered, pending (will retry), failed (gave up), cancelled."
    )


class WebhookDeliveries(BaseModel):
    webhook_id: str
    attempts: list[DeliveryAttempt] = Field(description="Delivery attempts, newest first.")
    count: int = Field(description="How many attempts are on this page.")
    pending: int = Field(description="Events still waiting to be delivered (first try or retry).")
    next_cursor: str | None = Field(None, description="The `cursor` of the next page; absent on the last.")
    total: int = Field(0, description="How many attempts are logged, over every page.")


class PingResult(BaseModel):
    webhook_id: str
    event_id: str = Field(description="Id of the webhook.test event sent.")
    delivered: bool = Field(description="True when the endpoint answered 2xx on this first attempt.")
    status_code: int | None = Field(None, description="HTTP status the endpoint answered.")
    error: str | None = Field(None, description="Why the attempt failed.")
    duration_ms: int | None = Field(None, description="How long the attempt took.")
    next_attempt_at: float | None = Field(None, description="Unix time of the next retry when not delivered.")
