"""Webhooks: signed event delivery through a SQLite outbox, retried with backoff, every attempt logged.

Other modules call `enqueue_event(conn, workspace_id, type, data)` inside the transaction of the change an event
reports; `webhooks.service.WebhookService` (composed by the app) owns endpoints, ping, the log and the worker.
Only the low-level pieces are re-exported here, so the engine can import them without an import cycle.
"""

from __future__ import annotations

from mcp_browsa.webhooks.events import EVENT_TYPES, enqueue_event, job_finish_hook

__all__ = ["EVENT_TYPES", "enqueue_event", "job_finish_hook"]
