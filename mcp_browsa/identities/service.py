"""The identity service the app composes: create, list, get (with live measurements) and destroy identities.

Burners get their own Chromium with a CDP URL until the TTL; persistent identities keep their sealed browser state and
open sessions through `sessions.py`. Every state change commits with its charge and its webhook event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.fingerprint import Fingerprint, apply_fingerprint, context_options
from mcp_browsa.errors import AgentNotRunning, BrowsaError, Forbidden, NotFound, UpstreamUnavailable
from mcp_browsa.identities.cdp import kill_orphan
from mcp_browsa.identities.core import IdentityCore, Outbox, event_data
from mcp_browsa.identities.live import LiveBrowser
from mcp_browsa.identities.models import Identity, IdentityList, Include, WarmupVisit
from mcp_browsa.identities.probe import Measurement, measure, warm_up
from mcp_browsa.identities.reaper import Reaper
from mcp_browsa.identities.sessions import Sessions
from mcp_browsa.identities.spec import CreateSpec
from mcp_browsa.identities.trust_factors import TrustRating, rate_identity
from mcp_browsa.netpolicy import Policy, check_url
from mcp_browsa.storage.db import Conn, Row, dumps, now
from mcp_browsa.storage.identities import AgentRepo, new_agent_id

__all__ = ["IdentityService"]

log = logging.getLogger(__name__)


class IdentityService:
    def __init__(self, core: IdentityCore) -> None:
        self.core = core
        self.sessions = Sessions(core)
        self.reaper = Reaper(core, end_identity=self.end_identity, end_session=self.sessions.end_live)

    @asynccontextmanager
    async def running(self, proxy: Any) -> AsyncIterator[IdentityService]:
        """Own the identities' browsers for the app's lifetime; on exit burners end and sessions save their state."""
        core = self.core
        core.proxy = proxy
        # The caller's exception leaves as itself, not wrapped in this task group's ExceptionGroup.
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                core.tg = tg
                try:
                    try:
                        await self.reaper.sweep()
                    except Exception:  # a failed clean-up must not keep the server from starting
                        log.exception("reaping identities at start-up failed")
                    tg.start_soon(self.reaper.loop)
                    try:
                        yield self
                    except Exception as exc:
                        failure = exc
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.shutdown()
                    tg.cancel_scope.cancel()
        finally:
            core.tg = None
            core.proxy = None
        if failure is not None:
            raise failure

    async def shutdown(self) -> None:
        for live in list(self.core.live.values()):
            try:
                if live.kind == "burner":
                    await self.end_identity(live.agent_id, "destroyed", "stopped when the server shut down")
                else:
                    await self.sessions.end_live(live, reason="server shut down", save=True)
            except Exception:
                log.exception("stopping identity %s at shutdown failed", live.agent_id)

    # -- create ---------------------------------------------------------------------------------

    async def create(self, workspace_id: str, spec: CreateSpec) -> Identity:
        """Provision an identity; returns once a burner's CDP endpoint is ready (or a persistent profile is stored)."""
        core = self.core
        policy = core.policy_for(list(spec.allowed_domains) if spec.allowed_domains is not None else None)
        if spec.initial_url:
            decision = check_url(spec.initial_url, policy)
            if not decision.allowed:
                raise Forbidden(f"initial_url is blocked by the URL guard ({decision.rule}): {decision.reason}")
        if spec.mode == "burner":
            core.host.refuse_own_chromium(
                "mode='burner' (a CDP URL)", "use mode='persistent': its jobs and sessions run on the remote browsers"
            )
            core.reserve()  # before anything is written or charged
        else:
            self.sessions.check_pool_room()
        try:
            fp = await core.new_fingerprint(spec.os_type, spec.country)
            agent_id = new_agent_id()
            price = core.start_price(spec.mode, fp.country)
            row: dict[str, Any] = {
                "id": agent_id,
                "workspace_id": workspace_id,
                "mode": spec.mode,
                "status": "queued",
                "os_type": fp.os_type,
                "country": fp.country,
                "persona": spec.persona,
                "warmup_recipe": spec.warmup_recipe,
                "initial_url": spec.initial_url,
                "fingerprint": dumps(fp.to_dict()),
                "allowed_domains": dumps(list(spec.allowed_domains)) if spec.allowed_domains is not None else None,
                "owner": core.owner,
                "created_at": now(),
            }

            async def insert(conn: Conn, _box: Outbox) -> None:
                await AgentRepo.insert(conn, row)
                await core.charge(conn, workspace_id, price, f"{spec.mode} identity {agent_id}", agent_id=agent_id)

            await core.commit(insert)  # INSUFFICIENT_CREDIT here leaves nothing behind
        except BaseException:
            if spec.mode == "burner":
                core.unreserve()
            raise
        try:
            if spec.mode == "burner":
                warmup, rating = await self._provision_burner(row, spec, fp, policy)
            else:
                warmup, rating = await self.sessions.provision_persistent(row, spec, fp, policy)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._provisioning_failed(row, price, exc)
            if isinstance(exc, PlaywrightError):
                raise UpstreamUnavailable(f"the identity's browser failed: {str(exc).splitlines()[0]}") from exc
            raise
        fresh = await core.repo.get(agent_id)
        assert fresh is not None
        agent = (await core.to_models([fresh]))[0]
        agent.warmup = warmup
        agent.trust = rating.summary()
        if spec.mode == "persistent":
            agent.hint = (
                f"open_session(identity_id={agent_id!r}) drives it (cdp=true for a CDP URL); tasks can run on it"
            )
        return agent

    async def _provision_burner(
        self, row: dict[str, Any], spec: CreateSpec, fp: Fingerprint, policy: Policy
    ) -> tuple[list[WarmupVisit] | None, TrustRating]:
        core = self.core
        agent_id, workspace_id = row["id"], row["workspace_id"]
        live: LiveBrowser | None = None
        try:
            live = await core.launch(agent_id, workspace_id, "burner", fp, policy)
            pages = live.context.pages
            page = pages[0] if pages else await live.context.new_page()
            warmup = None
            if spec.warmup_urls:
                warmup = await warm_up(page, spec.warmup_urls, timeout_ms=core.settings.nav_timeout_ms)
            report = (await measure(live.context, fp)).report
            assert report is not None
            rating = rate_identity(report, row, sessions=0)
            if spec.initial_url:
                await _open_quietly(page, spec.initial_url, core.settings.nav_timeout_ms)
            started = now()
            assert spec.ttl_seconds is not None
            expires = started + spec.ttl_seconds
            fields: dict[str, Any] = {
                "status": "running",
                "cdp_url": live.process.ws_url,
                "cdp_http": live.process.http_url,
                "pid": live.process.pid,
                "profile_dir": str(live.process.profile_dir),
                "started_at": started,
                "expires_at": expires,
                "billed_minutes": 1,  # the start price covers the first minute
                "trust_score": rating.score,
                "trust_report": dumps(report.to_dict()),
                "trust_measured_at": started,
            }

            async def up(conn: Conn, box: Outbox) -> None:
                await AgentRepo.update(conn, agent_id, **fields)
                await box.emit(
                    workspace_id,
                    "agent.provisioned",
                    event_data({**row, **fields}, cost_credits=core.start_price(row["mode"], row["country"])),
                )

            await core.commit(up)
        except BaseException:
            with anyio.CancelScope(shield=True):
                if live is not None:
                    await live.stop()
                core.unreserve()
            raise
        live.expires_at = expires
        core.live[agent_id] = live
        core_tg = core.tg
        assert core_tg is not None
        core_tg.start_soon(self._watch_burner, live)
        return warmup, rating

    async def _watch_burner(self, live: LiveBrowser) -> None:
        outcome = await self.core.watch(live)
        if outcome == "expired":
            await self.end_identity(live.agent_id, "destroyed", "its TTL ended")
        elif outcome == "exited":
            await self.end_identity(live.agent_id, "failed", "its browser exited unexpectedly")

    async def _provisioning_failed(self, row: dict[str, Any], price: int, exc: BaseException) -> None:
        core = self.core
        reason = exc.message if isinstance(exc, BrowsaError) else (str(exc).splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            reason = "provisioning was cancelled"

        async def failed(conn: Conn, box: Outbox) -> None:
            fields = {"status": "failed", "error_message": reason[:500], "destroyed_at": now(), "pid": None}
            await AgentRepo.update(conn, row["id"], **fields)
            await core.refund(conn, row["workspace_id"], price, f"identity {row['id']} never started", row["id"])
            await box.emit(row["workspace_id"], "agent.failed", event_data({**row, **fields}, error_message=reason))

        try:
            await core.commit(failed)
        except Exception:
            log.exception("recording the failure of identity %s failed", row["id"])

    # -- end of a burner --------------------------------------------------------------------------

    async def end_identity(self, agent_id: str, status: str, reason: str, *, charge: bool = True) -> None:
        """End an agent: stop its browser (ours, or an orphan on this host), settle burner minutes, record why."""
        core = self.core
        async with core.lock(agent_id):
            # Our browser goes (and its slot comes back) even if another process has already ended the agent.
            live = core.live.pop(agent_id, None)
            if live is not None:
                await live.stop()
                core.unreserve()
            row = await core.repo.get(agent_id)
            if row is None or row["status"] in ("destroyed", "failed"):
                return
            if live is None and row["owner"] != core.owner:
                await anyio.to_thread.run_sync(kill_orphan, row["pid"], row["profile_dir"])
            await core.commit(lambda conn, box: self._record_end(conn, box, row, status, reason, charge=charge))

    async def _record_end(self, conn: Conn, box: Outbox, row: Row, status: str, reason: str, *, charge: bool) -> None:
        core = self.core
        if await AgentRepo.status_in(conn, row["id"]) in ("destroyed", "failed"):
            return  # another process ended it meanwhile
        t = now()
        if charge and row["mode"] == "burner" and row["started_at"] is not None:
            until = min(t, row["expires_at"] or t)
            minutes = core.started_minutes(row["started_at"], until)
            extra = max(0, minutes - int(row["billed_minutes"] or 0)) * core.prices.burner_minute
            await core.charge(
                conn,
                row["workspace_id"],
                extra,
                f"burner {row['id']}: {minutes} minutes",
                agent_id=row["id"],
                allow_partial=True,
            )
            await AgentRepo.update(conn, row["id"], billed_minutes=minutes)
        for session in await AgentRepo.open_sessions(conn, row["id"]):
            await AgentRepo.end_session(conn, session["id"], reason)
            await box.emit(
                row["workspace_id"],
                "agent.session.ended",
                {"agent_id": row["id"], "session_id": session["id"], "kind": session["kind"], "reason": reason},
            )
        if row["mode"] == "persistent" and status == "destroyed":
            await AgentRepo.delete_state(conn, row["id"])
        fields = {
            "status": status,
            "destroyed_at": t,
            "cdp_url": None,
            "cdp_http": None,
            "pid": None,
            "profile_dir": None,
            "error_message": None if reason == "destroyed on request" else reason,
        }
        await AgentRepo.update(conn, row["id"], **fields)
        type_ = "agent.destroyed" if status == "destroyed" else "agent.failed"
        await box.emit(row["workspace_id"], type_, event_data({**dict(row), **fields}, reason=reason))

    # -- reads ----------------------------------------------------------------------------------

    async def _row(self, workspace_id: str, agent_id: str) -> Row:
        row = await self.core.repo.get(agent_id.strip(), workspace_id)
        if row is None:
            raise NotFound(f"identity {agent_id[:60]!r} not found; list_identities shows yours")
        return row

    async def list_identities(
        self,
        workspace_id: str,
        *,
        mode: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> IdentityList:
        page = await self.core.repo.list_for(workspace_id, mode=mode, status=status, limit=limit, cursor=cursor)
        agents = await self.core.to_models(page.rows)
        return IdentityList(agents=agents, count=len(agents), next_cursor=page.next_cursor, total=page.total)

    async def get(self, workspace_id: str, agent_id: str, *, include: list[Include] | None = None) -> Identity:
        """The identity; `include` measures its live browser now (trust, detection) or reads its fingerprint back."""
        row = await self._row(workspace_id, agent_id)
        wanted = set(include or ())
        if wanted and row["status"] != "running":
            raise AgentNotRunning(
                f"identity {row['id']} is {row['status']}; only a running identity can be measured",
                status=row["status"],
            )
        fp = self.core.fingerprint_of(row)
        measured: Measurement | None = None
        if wanted:
            measured = await self._measure(
                row, fp, trust=bool(wanted & {"trust", "detection"}), read="fingerprint" in wanted
            )
            report = measured.report
            if report is not None:
                sessions = await self.core.repo.session_count(row["id"])
                rating = rate_identity(report, dict(row), sessions=sessions)
                await self.core.repo.record_trust(row["id"], rating.score, report.to_dict())
                row = await self._row(workspace_id, row["id"])
        agent = (await self.core.to_models([row]))[0]
        if measured is not None and measured.report is not None:
            if "trust" in wanted:
                agent.trust = rating.summary()
            if "detection" in wanted:
                agent.detection = [c.to_dict() for c in measured.report.checks]
        if measured is not None and measured.fingerprint is not None:
            agent.fingerprint = measured.fingerprint
            agent.fingerprint_pinned = fp.to_dict()
        return agent

    async def _measure(self, row: Row, fp: Fingerprint, *, trust: bool, read: bool) -> Measurement:
        core = self.core
        live = core.live.get(row["id"])
        if live is not None:
            return await measure(live.context, fp, trust=trust, fingerprint=read)
        if row["cdp_http"]:
            # Up in another server process on this machine: its keeper fingerprints our probe page too.
            try:
                browser = await (await core.host.playwright()).chromium.connect_over_cdp(
                    row["cdp_http"], timeout=15_000
                )
            except PlaywrightError as exc:
                raise AgentNotRunning(f"identity {row['id']}'s browser does not answer: {exc}") from exc
            try:
                return await measure(browser.contexts[0], fp, trust=trust, fingerprint=read)
            finally:
                with anyio.CancelScope(shield=True):
                    await browser.close()
        if row["mode"] == "burner":
            raise AgentNotRunning(f"burner {row['id']} has no running browser")
        # A persistent identity between sessions: measure a fresh context with its pinned fingerprint.
        self.sessions.check_pool_room()
        async with core.pool.acquire(policy=core.policy_of(row), context_options=context_options(fp)) as burner:
            await apply_fingerprint(burner.context, fp)
            return await measure(burner.context, fp, trust=trust, fingerprint=read)

    # -- destroy --------------------------------------------------------------------------------

    async def destroy(self, workspace_id: str, agent_id: str) -> Identity:
        """Stop the identity's browser and end it; a persistent identity's stored state is deleted. Idempotent."""
        row = await self._row(workspace_id, agent_id)
        if row["status"] not in ("destroyed", "failed"):
            live = self.core.live.get(row["id"])
            if live is not None and live.kind == "interactive":
                await self.sessions.end_live(live, reason="identity destroyed", save=False)
            await self.end_identity(row["id"], "destroyed", "destroyed on request")
        return (await self.core.to_models([await self._row(workspace_id, row["id"])]))[0]

    async def check_usable(self, workspace_id: str, agent_id: str) -> None:
        """For run_task at submit time: the identity exists in this workspace, is persistent and running."""
        self.sessions.check_runnable(await self._row(workspace_id, agent_id))


async def _open_quietly(page: Any, url: str, timeout_ms: int) -> None:
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    except PlaywrightError as exc:
        log.info("initial_url %s did not load: %s", url, str(exc).splitlines()[0])
