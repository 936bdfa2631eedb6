"""Retention of the delivery log: finished deliveries older than the setting go with their attempts, pending ones stay.

Rows are made by the outbox's own enqueue, claim and record, then aged by moving their timestamps back, so the purge
sees exactly the statuses and times the delivery worker writes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcp_browsa import cli
from mcp_browsa.config import load_settings
from mcp_browsa.engine.retention import purge_once
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.storage.webhooks import PURGE_CHUNK, AttemptOutcome, ClaimedDelivery, WebhookRepo
from mcp_browsa.webhooks.events import enqueue_event
from tests.support.db import workspace_db

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE
OWNER = "sender"
DAY = 86400.0

DELIVERED = AttemptOutcome(200, None, 3, delivered=True)
RETRY = AttemptOutcome(500, "HTTP 500", 3, retry_in=3600)
GIVE_UP = AttemptOutcome(500, "HTTP 500", 3)
GONE = AttemptOutcome(410, "410 Gone: the endpoint is disabled", 3, gone=True)


@pytest.fixture
async def db(tmp_path: Path, database: str | Path) -> AsyncIterator[Database]:
    async with workspace_db(database if isinstance(database, str) else tmp_path, WS) as db:
        yield db


@pytest.fixture
def repo(db: Database) -> WebhookRepo:
    return WebhookRepo(db)


async def new_hook(repo: WebhookRepo) -> str:
    return (await repo.create(WS, "https://example.com/hook", [], "whsec_test")).id


async def claim(repo: WebhookRepo, event_id: str, hook_id: str) -> ClaimedDelivery:
    async with repo.db.transaction() as conn:
        claimed = await repo.claim_event(conn, event_id, hook_id, OWNER, 60)
    assert claimed is not None
    return claimed


async def send(repo: WebhookRepo, hook_id: str, *outcomes: AttemptOutcome) -> int:
    """One event to `hook_id`, attempted once per outcome as the worker would; returns its outbox row id."""
    async with repo.db.transaction() as conn:
        event_id = await enqueue_event(conn, WS, "webhook.test", {}, webhook_id=hook_id)
    assert event_id is not None
    claimed = await claim(repo, event_id, hook_id)
    for n, outcome in enumerate(outcomes):
        if n:  # a retry is claimed afresh: recording an attempt ends the lease
            claimed = await claim(repo, event_id, hook_id)
        assert await repo.record(claimed, OWNER, outcome) is not None
    return claimed.id


async def age(db: Database, outbox_id: int, days: float) -> None:
    """Move every time of one delivery (and of its endpoint's disabling) `days` into the past."""
    shift = days * DAY
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE webhook_outbox SET created_at=created_at-?, next_attempt_at=next_attempt_at-?,"
            " delivered_at=delivered_at-? WHERE id=?",
            (shift, shift, shift, outbox_id),
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at=created_at-? WHERE outbox_id=?", (shift, outbox_id)
        )
        await conn.execute(
            "UPDATE webhooks SET disabled_at=disabled_at-? WHERE id=(SELECT webhook_id FROM webhook_outbox WHERE id=?)",
            (shift, outbox_id),
        )


async def outbox_ids(db: Database) -> set[int]:
    return {int(r["id"]) for r in await db.fetchall("SELECT id FROM webhook_outbox")}


async def attempts_of(db: Database, outbox_id: int) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM webhook_deliveries WHERE outbox_id=?", (outbox_id,))
    return int(row[0]) if row else 0


async def test_old_finished_deliveries_go_with_their_attempts_and_recent_ones_stay(
    db: Database, repo: WebhookRepo
) -> None:
    hook = await new_hook(repo)
    old_delivered = await send(repo, hook, RETRY, DELIVERED)
    recent_delivered = await send(repo, hook, DELIVERED)
    old_given_up = await send(repo, hook, RETRY, GIVE_UP)
    # Created long ago, given up only yesterday: the age that counts is when it finished.
    given_up_yesterday = await send(repo, hook, RETRY, GIVE_UP)
    await age(db, old_delivered, 40)
    await age(db, recent_delivered, 1)
    await age(db, old_given_up, 31)
    await age(db, given_up_yesterday, 1)
    await db.execute("UPDATE webhook_outbox SET created_at=created_at-? WHERE id=?", (40 * DAY, given_up_yesterday))

    assert await repo.purge_finished(30) == 2

    assert await outbox_ids(db) == {recent_delivered, given_up_yesterday}
    assert await attempts_of(db, old_delivered) == 0
    assert await attempts_of(db, old_given_up) == 0
    assert await attempts_of(db, recent_delivered) == 1
    assert await attempts_of(db, given_up_yesterday) == 2
    # What `webhook_deliveries` lists: only the kept events' attempts.
    listed, _next, _total = await repo.attempts(hook, limit=50)
    assert sorted(a.delivery_status for a in listed) == ["delivered", "failed", "failed"]


async def test_pending_deliveries_stay_whatever_their_age(db: Database, repo: WebhookRepo) -> None:
    hook = await new_hook(repo)
    retrying = await send(repo, hook, RETRY, RETRY)
    never_tried = await send(repo, hook)
    async with db.transaction() as conn:
        event_id = await enqueue_event(conn, WS, "webhook.test", {}, webhook_id=hook)
        in_flight = await repo.claim_event(conn, str(event_id), hook, OWNER, 60)
    assert in_flight is not None
    await repo.release(never_tried, OWNER)  # handed back unattempted, as a stopping sender does
    for row in (retrying, never_tried, in_flight.id):
        await age(db, row, 365)

    assert await repo.purge_finished(30) == 0

    assert await outbox_ids(db) == {retrying, never_tried, in_flight.id}
    assert await attempts_of(db, retrying) == 2
    assert await repo.pending_count(hook) == 3
    # The leased row is still ours to finish: recording its attempt works after the purge.
    assert await repo.record(in_flight, OWNER, DELIVERED) == 1


async def test_deliveries_cancelled_by_a_410_go_once_the_endpoint_was_disabled_long_ago(
    db: Database, repo: WebhookRepo
) -> None:
    gone_hook, later_gone_hook = await new_hook(repo), await new_hook(repo)
    waiting = await send(repo, gone_hook, RETRY)
    answered_410 = await send(repo, gone_hook, RETRY, GONE)
    await age(db, waiting, 40)
    await age(db, answered_410, 40)
    # Created 40 days ago, cancelled when its endpoint answered 410 yesterday: kept for now.
    cancelled_yesterday = await send(repo, later_gone_hook)
    await send(repo, later_gone_hook, GONE)
    await db.execute("UPDATE webhook_outbox SET created_at=created_at-? WHERE id=?", (40 * DAY, cancelled_yesterday))
    await db.execute("UPDATE webhooks SET disabled_at=disabled_at-? WHERE id=?", (DAY, later_gone_hook))
    statuses = {r["id"]: r["status"] for r in await db.fetchall("SELECT id, status FROM webhook_outbox")}
    assert (statuses[waiting], statuses[answered_410], statuses[cancelled_yesterday]) == (
        "cancelled",
        "failed",
        "cancelled",
    )

    assert await repo.purge_finished(30) == 2

    assert waiting not in await outbox_ids(db) and answered_410 not in await outbox_ids(db)
    assert await attempts_of(db, waiting) == 0 and await attempts_of(db, answered_410) == 0
    assert cancelled_yesterday in await outbox_ids(db)


async def test_zero_days_keeps_everything(db: Database, repo: WebhookRepo) -> None:
    hook = await new_hook(repo)
    rows = [await send(repo, hook, DELIVERED), await send(repo, hook, GIVE_UP)]
    for row in rows:
        await age(db, row, 3650)

    assert await repo.purge_finished(0) == 0

    assert await outbox_ids(db) == set(rows)
    assert [await attempts_of(db, row) for row in rows] == [1, 1]


async def test_a_backlog_larger_than_one_chunk_is_fully_purged(db: Database, repo: WebhookRepo) -> None:
    hook = await new_hook(repo)
    pending = await send(repo, hook, RETRY)
    backlog = 2 * PURGE_CHUNK + 7
    old = 0.0  # the epoch: older than any cutoff
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO webhook_outbox(id, webhook_id, event_id, event_type, body, status, attempts, next_attempt_at,"
            " created_at, delivered_at) VALUES (?, ?, ?, 'webhook.test', '{}', 'delivered', 1, ?, ?, ?)",
            [(pending + 1 + i, hook, f"evt_{i}", old, old, old) for i in range(backlog)],
        )
        await conn.executemany(
            "INSERT INTO webhook_deliveries(outbox_id, webhook_id, event_id, attempt, created_at, status_code)"
            " VALUES (?, ?, ?, 1, ?, 200)",
            [(pending + 1 + i, hook, f"evt_{i}", old) for i in range(backlog)],
        )
    await age(db, pending, 365)

    assert await repo.purge_finished(30) == backlog

    assert await outbox_ids(db) == {pending}
    row = await db.fetchone("SELECT COUNT(*) FROM webhook_deliveries")
    assert row is not None and row[0] == 1


async def test_a_failing_screenshot_purge_does_not_stop_the_webhook_purge(
    db: Database, repo: WebhookRepo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook = await new_hook(repo)
    old = await send(repo, hook, DELIVERED)
    await age(db, old, 40)
    await db.execute("DROP TABLE screenshots")  # the screenshot purge now fails on every pass

    with caplog.at_level(logging.ERROR, logger="mcp_browsa.engine.retention"):
        await purge_once(db, tmp_path / "screenshots", screenshot_days=5, webhook_log_days=30)

    assert await outbox_ids(db) == set()
    assert "screenshot retention failed" in caplog.text


def test_the_retention_setting_defaults_to_30_days_and_reads_the_environment(tmp_path: Path) -> None:
    def days(**env: str) -> int:
        return load_settings({"BROWSA_HOME": str(tmp_path), **env}).webhook_log_retention_days

    assert days() == 30
    assert days(BROWSA_WEBHOOK_LOG_RETENTION_DAYS="7") == 7
    assert days(BROWSA_WEBHOOK_LOG_RETENTION_DAYS="0") == 0


@pytest.mark.parametrize("raw", ["-1", "thirty", "1.5"])
def test_a_bad_retention_setting_is_a_clear_error(
    raw: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="BROWSA_WEBHOOK_LOG_RETENTION_DAYS"):
        load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_WEBHOOK_LOG_RETENTION_DAYS": raw})
    # At the terminal the server refuses to start and names the setting.
    monkeypatch.setenv("BROWSA_HOME", str(tmp_path))
    monkeypatch.setenv("BROWSA_WEBHOOK_LOG_RETENTION_DAYS", raw)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "BROWSA_WEBHOOK_LOG_RETENTION_DAYS" in err
