"""The outbox and the delivery worker against a real local receiver, on a real SQLite file and a real PostgreSQL.

An event exists only if its state change committed; retries keep one event id and log every attempt; 410 disables
the endpoint; Retry-After, redirects, timeouts, the default schedule and the SSRF rules behave as documented; two
senders on one data dir never deliver an event twice.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import pytest

from mcp_browsa.config import load_settings
from mcp_browsa.errors import BadRequest
from mcp_browsa.events import EngineEvent
from mcp_browsa.models import JobStatus
from mcp_browsa.models.webhooks import WebhookDeliveries
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from mcp_browsa.webhooks.delivery import DeliveryConfig, parse_retry_after, parse_schedule
from mcp_browsa.webhooks.events import enqueue_event, job_finish_hook
from mcp_browsa.webhooks.service import WebhookService
from tests.support.waits import wait_until
from tests.webhooks.receiver import Delivery, Receiver, Reply, serve_receiver

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


async def open_db(location: str | Path) -> Database:
    db = Database(location)
    await db.open()
    await LedgerRepo(db).ensure_workspace(WS, initial_credits=0)
    return db


@pytest.fixture
async def db(database: str | Path) -> AsyncIterator[Database]:
    db = await open_db(database)
    yield db
    await db.close()


def make_service(
    db: Database, receiver: Receiver, *, schedule: str = "0.2,0.2,0.2", timeout: float = 5.0, owner: str = "a"
) -> WebhookService:
    config = DeliveryConfig(retry_schedule=parse_schedule(schedule), timeout=timeout, poll_interval=0.1)
    return WebhookService(db, private_network=f"127.0.0.1:{receiver.port}", owner=owner, config=config)


async def wait_for(receiver: Receiver, predicate: Callable[[list[Delivery]], bool]) -> list[Delivery]:
    return await anyio.to_thread.run_sync(receiver.wait_for, predicate)


async def settled_log(svc: WebhookService, webhook_id: str, attempts: int) -> WebhookDeliveries:
    """The delivery log once `attempts` attempts are recorded (the record lands just after the receiver answers)."""
    last: list[WebhookDeliveries] = []

    async def recorded() -> WebhookDeliveries | None:
        last[:] = [await svc.deliveries(WS, webhook_id, limit=200)]
        return last[0] if last[0].count >= attempts and last[0].pending == 0 else None

    return await wait_until(recorded, lambda: f"{attempts} attempts recorded (last: {last})", timeout=10)


async def test_failing_endpoint_recovers_one_event_several_attempts(db: Database, receiver: Receiver) -> None:
    svc = make_service(db, receiver)
    hook = await svc.create(WS, receiver.url, ["job.completed"])
    receiver.secret = hook.secret
    receiver.script = lambda n: Reply(500) if n < 2 else Reply(200)

    async with anyio.create_task_group() as tg:
        svc.start(tg)
        async with db.transaction() as conn:
            event_id = await enqueue_event(conn, WS, "job.completed", {"job_id": "j-1"})
            assert await enqueue_event(conn, WS, "job.failed", {"job_id": "j-2"}) is None  # not subscribed
        svc.worker.wake()
        got = await wait_for(receiver, lambda ds: any(d.answered == 200 for d in ds))
        log = await settled_log(svc, hook.id, 3)
        tg.cancel_scope.cancel()

    assert [d.answered for d in got] == [500, 500, 200]
    assert {d.headers["webhook-id"] for d in got} == {event_id}
    assert all(d.standard_ok and d.agents_ok for d in got)
    assert len({d.body for d in got}) == 1  # retries send the byte-identical body
    assert got[0].event["data"] == {"job_id": "j-1"}
    assert [(a.attempt, a.status_code, a.delivery_status) for a in log.attempts] == [
        (3, 200, "delivered"),
        (2, 500, "delivered"),
        (1, 500, "delivered"),
    ]
    assert log.attempts[-1].error == "HTTP 500"


OUTBOX_ROWS = "SELECT COUNT(*) FROM webhook_outbox"


async def test_an_event_is_kept_only_if_its_state_change_commits(db: Database, receiver: Receiver) -> None:
    svc = make_service(db, receiver)
    hook = await svc.create(WS, receiver.url, ["job.completed"])
    async with db.transaction() as conn:
        job_id = await JobRepo.insert(conn, workspace_id=WS, kind="scrape", params={}, request_id="req_outbox")
    claimed = await JobRepo(db).claim("worker-a", 30)
    assert claimed is not None and claimed.id == job_id

    async def complete(then_fail: bool) -> None:
        # What the engine does when a job ends: its end state and its event in one transaction.
        async with db.transaction() as conn:
            assert await JobRepo.finish(conn, job_id, claimed.token, JobStatus.COMPLETED, result={"ok": True})
            await job_finish_hook(conn, EngineEvent("job.completed", WS, {"job_id": job_id}, job_id=job_id))
            assert tuple(await (await conn.execute(OUTBOX_ROWS)).fetchone() or ()) == (1,)  # written, not committed
            if then_fail:
                raise RuntimeError("the transaction fails after the event was queued")

    with pytest.raises(RuntimeError, match="after the event was queued"):
        await complete(then_fail=True)
    job = await JobRepo(db).get(job_id)
    assert job is not None and job.status == "running" and job.result is None
    assert tuple(await db.fetchone(OUTBOX_ROWS) or ()) == (0,)
    assert (await svc.deliveries(WS, hook.id)).pending == 0

    await complete(then_fail=False)
    assert (await svc.deliveries(WS, hook.id)).pending == 1


def test_delivery_defaults_follow_the_design() -> None:
    config = DeliveryConfig()
    assert config.timeout == 15.0
    # DESIGN.md: retried after ≈ 5 s, 5 m, 30 m, 2 h, 5 h, 10 h …
    assert config.retry_schedule[:6] == parse_schedule("5s,5m,30m,2h,5h,10h")
    assert set(config.retry_schedule[6:]) <= {parse_schedule("10h")[0]}
    assert DeliveryConfig.from_settings(load_settings({"BROWSA_HOME": "/nonexistent"})) == config
    configured = load_settings({"BROWSA_HOME": "/nonexistent", "BROWSA_WEBHOOK_RETRY_SCHEDULE": "1s, 2m"})
    assert DeliveryConfig.from_settings(configured).retry_schedule == (1.0, 120.0)
    with pytest.raises(ValueError, match="BROWSA_WEBHOOK_RETRY_SCHEDULE: bad delay 'soon'"):
        load_settings({"BROWSA_HOME": "/nonexistent", "BROWSA_WEBHOOK_RETRY_SCHEDULE": "5s,soon"})

    for attempt, base in enumerate(config.retry_schedule, start=1):
        delays = [config.retry_delay(attempt) for _ in range(200)]
        assert all(d is not None and abs(d - base) <= base * config.jitter for d in delays), (attempt, delays)
        assert len(set(delays)) > 100  # spread out, so endpoints that failed together are not retried together
    assert 0 < config.jitter <= 0.25
    assert config.retry_delay(config.max_attempts) is None


async def test_410_disables_the_endpoint(db: Database, receiver: Receiver) -> None:
    svc = make_service(db, receiver)
    hook = await svc.create(WS, receiver.url)
    receiver.secret = hook.secret
    receiver.script = lambda _n: Reply(410)

    ping = await svc.ping(WS, hook.id)

    assert not ping.delivered and ping.status_code == 410 and ping.next_attempt_at is None
    (listed,) = (await svc.list_webhooks(WS)).webhooks
    assert listed.status == "disabled" and "410" in (listed.disabled_reason or "")
    async with db.transaction() as conn:
        assert await enqueue_event(conn, WS, "job.completed", {"job_id": "j"}) is None
    with pytest.raises(BadRequest, match="disabled"):
        await svc.ping(WS, hook.id)
    assert len(receiver.deliveries) == 1


async def test_retry_after_is_honoured_over_the_schedule(db: Database, receiver: Receiver) -> None:
    svc = make_service(db, receiver, schedule="1h")
    hook = await svc.create(WS, receiver.url)
    receiver.secret = hook.secret
    receiver.script = lambda n: Reply(429, {"Retry-After": "1"}) if n == 0 else Reply(204)

    async with anyio.create_task_group() as tg:
        svc.start(tg)
        ping = await svc.ping(WS, hook.id)
        assert ping.status_code == 429 and ping.next_attempt_at is not None
        assert 0.5 < ping.next_attempt_at - time.time() < 2
        got = await wait_for(receiver, lambda ds: len(ds) == 2)
        await settled_log(svc, hook.id, 2)
        tg.cancel_scope.cancel()

    assert got[1].answered == 204 and got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("junk") is None


async def test_redirects_are_not_followed_and_timeouts_are_logged(db: Database, receiver: Receiver) -> None:
    svc = make_service(db, receiver, schedule="1h", timeout=0.5)
    hook = await svc.create(WS, receiver.url)
    receiver.secret = hook.secret
    receiver.script = lambda n: (
        Reply(307, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}) if n == 0 else Reply(delay=2)
    )

    redirected = await svc.ping(WS, hook.id)
    started = time.monotonic()
    timed_out = await svc.ping(WS, hook.id)

    assert not redirected.delivered and "not followed" in (redirected.error or "")
    assert not timed_out.delivered and timed_out.error == "no answer within 0.5 s"
    assert time.monotonic() - started < 1.9
    assert [d.path for d in receiver.deliveries] == ["/hook", "/hook"]  # nothing went to /elsewhere
    log = await svc.deliveries(WS, hook.id)
    assert log.pending == 2 and log.count == 2


async def test_private_targets_follow_the_ssrf_rules(db: Database, receiver: Receiver) -> None:
    strict = WebhookService(db, private_network="", owner="a")
    with pytest.raises(BadRequest, match="loopback"):
        await strict.create(WS, receiver.url)
    other_port = WebhookService(db, private_network="127.0.0.1:1", owner="a")
    with pytest.raises(BadRequest, match="BROWSA_ALLOW_PRIVATE_NETWORK"):
        await other_port.create(WS, receiver.url)
    with pytest.raises(BadRequest, match="scheme"):
        await strict.create(WS, "ftp://example.com/hook")

    # A name is only resolved when delivering: localhost resolves to loopback and is refused there.
    hook = await strict.create(WS, f"http://localhost:{receiver.port}/hook")
    ping = await strict.ping(WS, hook.id)
    assert not ping.delivered and (ping.error or "").startswith("blocked:")
    assert receiver.deliveries == []


async def test_two_senders_on_one_data_dir_deliver_each_event_once(database: str | Path, receiver: Receiver) -> None:
    first = await open_db(database)
    second = await open_db(database)  # another process's connections, same database
    try:
        a = make_service(first, receiver, owner="proc-a")
        b = make_service(second, receiver, owner="proc-b")
        hook = await a.create(WS, receiver.url)
        receiver.secret = hook.secret
        receiver.script = lambda _n: Reply(delay=0.02)
        events = 40
        async with first.transaction() as conn:
            for i in range(events):
                await enqueue_event(conn, WS, "agent.provisioned", {"agent_id": f"agt_{i}"})

        async with anyio.create_task_group() as tg:
            a.start(tg)
            b.start(tg)
            got = await wait_for(receiver, lambda ds: len(ds) >= events)
            await settled_log(a, hook.id, events)
            tg.cancel_scope.cancel()
    finally:
        await first.close()
        await second.close()

    ids = [d.headers["webhook-id"] for d in got]
    assert len(ids) == events and len(set(ids)) == events
    assert all(d.standard_ok and d.agents_ok for d in got)
