"""The delivery worker: claims due outbox rows, POSTs them signed, logs every attempt and schedules retries.

2xx is delivered; redirects are not followed; 410 disables the endpoint; anything else is retried with backoff
and jitter (≈ 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 10 h), or after the endpoint's Retry-After when it sends one.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from dataclasses import dataclass

import anyio
import httpx

from mcp_browsa import __version__
from mcp_browsa.config import DEFAULT_RETRY_SCHEDULE, Settings, parse_schedule
from mcp_browsa.durations import parse_retry_after
from mcp_browsa.storage.webhooks import AttemptOutcome, ClaimedDelivery, WebhookRepo
from mcp_browsa.webhooks.egress import Blocked, EgressRule
from mcp_browsa.webhooks.signing import delivery_headers

__all__ = ["DEFAULT_SCHEDULE", "DeliveryConfig", "DeliveryWorker", "parse_retry_after", "parse_schedule"]

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = DEFAULT_RETRY_SCHEDULE
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class DeliveryConfig:
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 15.0
    poll_interval: float = 1.0
    concurrency: int = 8
    jitter: float = 0.1  # ± this fraction of each delay, so endpoints that failed together are not retried together

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule) + 1

    @property
    def lease_seconds(self) -> float:
        return self.timeout + 30.0

    def retry_delay(self, attempt: int) -> float | None:
        """Delay after failed attempt number `attempt` (1-based), or None when it was the last one."""
        if attempt >= self.max_attempts:
            return None
        base = self.retry_schedule[attempt - 1]
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            retry_schedule=settings.webhook_retry_schedule,
            timeout=settings.webhook_timeout,
            poll_interval=settings.webhook_poll_interval,
        )


class DeliveryWorker:
    def __init__(self, repo: WebhookRepo, egress: EgressRule, config: DeliveryConfig, *, owner: str) -> None:
        self.repo = repo
        self.egress = egress
        self.config = config
        self.owner = owner
        self._wake = anyio.Event()
        self._slots = anyio.Semaphore(config.concurrency)
        # Built once: loading the CA bundle costs more than a delivery.
        self._ssl = ssl.create_default_context()

    def wake(self) -> None:
        """Look for due rows now (an event was just written) instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due rows until cancelled; rows left half-done are re-sent by whoever claims them next."""
        async with anyio.create_task_group() as tg:
            while True:
                await self._slots.acquire()
                try:
                    claimed = await self.repo.claim(self.owner, self.config.lease_seconds)
                except Exception:
                    self._slots.release()
                    log.exception("claiming webhook deliveries failed")
                    await anyio.sleep(self.config.poll_interval)
                    continue
                if not claimed:
                    self._slots.release()
                    await self._idle()
                    continue
                tg.start_soon(self._deliver_in_slot, claimed[0])

    async def _idle(self) -> None:
        try:
            due = await self.repo.next_due()
        except Exception:
            log.exception("reading the webhook outbox failed")
            due = None
        wait = self.config.poll_interval if due is None else min(self.config.poll_interval, due - time.time())
        if wait > 0:
            with anyio.move_on_after(wait):
                await self._wake.wait()
        self._wake = anyio.Event()

    async def _deliver_in_slot(self, claimed: ClaimedDelivery) -> None:
        try:
            await self.deliver(claimed)
        except anyio.get_cancelled_exc_class():
            # Shutting down mid-attempt: hand the row back now rather than when its lease runs out.
            with anyio.CancelScope(shield=True):
                await self.repo.release(claimed.id, self.owner)
            raise
        except Exception:
            log.exception("delivering %s to webhook %s failed", claimed.event_id, claimed.webhook_id)
        finally:
            self._slots.release()

    async def deliver(self, claimed: ClaimedDelivery) -> tuple[AttemptOutcome, int | None]:
        """One attempt at a claimed row, recorded; returns the outcome and the attempt number (None: not ours)."""
        outcome = await self.attempt(claimed)
        with anyio.CancelScope(shield=True):
            number = await self.repo.record(claimed, self.owner, outcome)
        if number is not None and not outcome.delivered:
            log.warning(
                "webhook %s: %s attempt %d failed: %s", claimed.webhook_id, claimed.event_id, number, outcome.error
            )
        return outcome, number

    async def attempt(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        started = time.monotonic()
        attempt_no = claimed.attempts + 1

        def done(
            status: int | None,
            error: str | None,
            *,
            delivered: bool = False,
            gone: bool = False,
            retry_after: float | None = None,
        ) -> AttemptOutcome:
            ms = int((time.monotonic() - started) * 1000)
            if delivered or gone:
                return AttemptOutcome(status, error, ms, delivered=delivered, gone=gone)
            retry_in = self.config.retry_delay(attempt_no)
            if retry_in is not None and retry_after is not None:
                retry_in = retry_after  # the endpoint knows best when it can take the event
            return AttemptOutcome(status, error, ms, retry_in=retry_in)

        body = claimed.body.encode("utf-8")
        try:
            target = await self.egress.resolve(claimed.url)
        except Blocked as exc:
            return done(None, f"blocked: {exc}")
        except Exception as exc:  # an odd URL or resolver failure is this attempt's error, not the worker's
            return done(None, f"{type(exc).__name__}: {exc}")
        headers = delivery_headers(claimed.secret, claimed.event_id, claimed.event_type, int(time.time()), body)
        headers["Host"] = target.host_header
        headers["User-Agent"] = f"mcp-browsa/{__version__} (webhooks)"
        auth = (target.username or "", target.password or "") if target.username is not None else None
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        # No keep-alive: a pooled connection is keyed by address, and one checked for one name must not carry
        # another name's request.
        limits = httpx.Limits(max_keepalive_connections=0)
        try:
            with anyio.fail_after(self.config.timeout):
                async with (
                    httpx.AsyncClient(
                        verify=self._ssl, trust_env=False, follow_redirects=False, limits=limits, timeout=None
                    ) as client,
                    client.stream(
                        "POST", target.connect_url, content=body, headers=headers, auth=auth, extensions=extensions
                    ) as response,
                ):
                    status = response.status_code
                    retry_after = response.headers.get("retry-after")
                    location = response.headers.get("location")
        except TimeoutError:
            return done(None, f"no answer within {self.config.timeout:g} s")
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return done(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= status < 300:
            return done(status, None, delivered=True)
        if status == 410:
            return done(status, "410 Gone: the endpoint is disabled", gone=True)
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += f": redirect to {(location or '?')[:200]} not followed (point the webhook at the final URL)"
        return done(status, error, retry_after=parse_retry_after(retry_after, cap=MAX_RETRY_AFTER))
