"""The webhook event catalogue, the event envelope, and writing events to the outbox inside the caller's transaction.

`enqueue_event` is what other modules call in the same transaction as the state change an event reports, so an
event is delivered if and only if its change committed. Job end events come through `job_finish_hook`.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

from mcp_browsa.events import EngineEvent
from mcp_browsa.storage.db import Conn, dumps, now
from mcp_browsa.storage.outbox import OutboxRepo

__all__ = [
    "EVENT_TYPES",
    "MAX_RESULT_BYTES",
    "build_envelope",
    "check_event_types",
    "enqueue_event",
    "job_event_data",
    "job_finish_hook",
    "new_event_id",
]

EVENT_TYPES: tuple[str, ...] = (
    "job.completed",
    "job.failed",
    "job.input_required",
    "agent.provisioned",
    "agent.destroyed",
    "agent.failed",
    "agent.session.started",
    "agent.session.ended",
    "webhook.test",
)
# A job's result (a scraped page, a batch) can be large; past this the event carries a pointer, not the result.
MAX_RESULT_BYTES = 64 * 1024
_JOB_EVENTS = ("job.completed", "job.failed")
# Events whose data is the webhook's data as emitted; job.input_required and webhook.test are written where they happen.
_OWN_DATA_EVENTS = frozenset(t for t in EVENT_TYPES if t.startswith("agent."))


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def check_event_types(types: list[str]) -> list[str]:
    """Validated, de-duplicated event types for a subscription; ValueError names the unknown ones."""
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type(s) {unknown}; choose from {list(EVENT_TYPES)}")
    return list(dict.fromkeys(types))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_envelope(event_id: str, event_type: str, workspace_id: str, data: dict[str, Any], created_at: float) -> str:
    """The exact body every attempt of this event sends (stored once, so retries are byte-identical)."""
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": _iso(created_at),
        "workspace_id": workspace_id,
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str)


async def enqueue_event(
    conn: Conn,
    workspace_id: str,
    type: str,  # the envelope's own field name, as the issue names the parameter
    data: dict[str, Any],
    *,
    webhook_id: str | None = None,
) -> str | None:
    """Write one outbox row per active webhook of the workspace subscribed to `type`; call inside your transaction.

    Returns the event id, or None when no webhook wants the event (nothing is written). `webhook_id` limits the
    event to that one webhook (used by ping).
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"{type!r} is not a webhook event type; the catalogue is {list(EVENT_TYPES)}")
    subscribers = await OutboxRepo.subscribers(conn, workspace_id, webhook_id)
    targets = [hook for hook, events in subscribers if _wants(events, type, webhook_id)]
    if not targets:
        return None
    event_id = new_event_id()
    t = now()
    await OutboxRepo.add(conn, targets, event_id, type, build_envelope(event_id, type, workspace_id, data, t), t)
    return event_id


def _wants(events: Any, type_: str, explicit: str | None) -> bool:
    # A ping names its webhook and is always delivered; otherwise an empty list subscribes to everything.
    return explicit is not None or not events or type_ in events


async def job_finish_hook(conn: Conn, event: EngineEvent) -> None:
    """The engine's event hook: every catalogue event into the outbox, in the transaction of the change it reports.

    job.completed / job.failed are written in the transaction that ended the job, with the job's documented shape.
    Only work that runs apart from its call is announced: async one-call jobs, batches, tasks. A synchronous scrape,
    extract or screenshot handed its result back in the call, so nobody is waiting for an event about it. Other
    catalogue events (agent.*) carry the data they were emitted with.
    """
    if event.type not in _JOB_EVENTS:
        if event.type in _OWN_DATA_EVENTS:
            await enqueue_event(conn, event.workspace_id, event.type, event.data)
        return
    if event.job_id is None:
        return
    if not await OutboxRepo.anyone_listening(conn, event.workspace_id):
        return  # the common case: nobody listens, so do not even read the job
    found = await OutboxRepo.job(conn, event.job_id)
    if found is not None and found[1].get("sync"):
        return
    await enqueue_event(conn, event.workspace_id, event.type, await job_event_data(conn, event.job_id, event.data))


async def job_event_data(conn: Conn, job_id: str, base: dict[str, Any]) -> dict[str, Any]:
    """The documented shape, at the top level of `data`: job.completed is {job_id, kind, progress_done,
    progress_total, credits_charged, result}, job.failed {job_id, kind, error_code, error_message} (with progress
    and credits too); every job event also says its `status`, and `agent_id` when it ran on an identity."""
    data = dict(base)
    found = await OutboxRepo.job(conn, job_id)
    if found is None:
        return data
    job = found[0]
    data.update(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        progress_done=job.progress_done,
        progress_total=job.progress_total,
        credits_charged=job.credits_charged,
    )
    if job.agent_id:
        data["agent_id"] = job.agent_id
    if job.status == "completed":
        data["result"] = job.result
        if job.result is not None and len(dumps(job.result).encode("utf-8")) > MAX_RESULT_BYTES:
            data["result"] = None
            data["result_truncated"] = True
            data["hint"] = f"the result is larger than {MAX_RESULT_BYTES} bytes; fetch it with get_job({job_id!r})"
    if job.error_code or job.status == "failed":
        data.update(error_code=job.error_code, error_message=job.error_message)
    if job.question:
        data["question"] = job.question
    return data
