"""Sessions on persistent identities: provisioning, interactive CDP sessions, and the browser a job gets.

Each session restores the identity's sealed cookies and localStorage into a fresh browser and writes them back when it
ends, so a login made in one session is there in the next, across server restarts. One session at a time per identity.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.fingerprint import Fingerprint, apply_fingerprint, context_options, fingerprint_page
from mcp_browsa.browser.pool import Burner
from mcp_browsa.errors import AgentNotRunning, BadRequest, NotFound, TooManyRequests
from mcp_browsa.identities.core import IdentityCore, Outbox, event_data, owner_alive
from mcp_browsa.identities.live import LiveBrowser
from mcp_browsa.identities.models import SessionClosed, WarmupVisit
from mcp_browsa.identities.probe import measure, warm_up
from mcp_browsa.identities.spec import DEFAULT_OS, OS_TYPES, CreateSpec
from mcp_browsa.identities.trust_factors import TrustRating, rate_identity
from mcp_browsa.netpolicy import Policy, intersect_allowed_domains
from mcp_browsa.storage.db import Conn, Row, dumps, now
from mcp_browsa.storage.identities import AgentRepo

__all__ = ["Sessions"]

log = logging.getLogger(__name__)


class Sessions:
    def __init__(self, core: IdentityCore) -> None:
        self.core = core

    def check_pool_room(self) -> None:
        pool = self.core.pool
        if pool.in_use >= pool.max:
            raise TooManyRequests(
                f"all {pool.max} browser slots (BROWSA_MAX_BURNERS) are busy; retry shortly", retry_after=5.0
            )

    @staticmethod
    def check_runnable(row: Row) -> None:
        if row["mode"] != "persistent":
            raise BadRequest(
                f"identity {row['id']} is a burner: drive it through its cdp_url; tasks run on persistent identities"
            )
        if row["status"] != "running":
            raise AgentNotRunning(f"identity {row['id']} is {row['status']}", status=row["status"])

    def _claim(
        self, row: Row, kind: str, *, job_id: str | None, expires_at: float | None = None
    ) -> Callable[[Conn, Outbox], Any]:
        """A transaction step: refuse while another live session holds the identity, then start one for `job_id`."""
        core = self.core

        async def claim(conn: Conn, box: Outbox) -> str:
            for other in await AgentRepo.open_sessions(conn, row["id"]):
                if owner_alive(other["owner"]):
                    left = (other["expires_at"] - now()) if other["expires_at"] else 30.0
                    raise TooManyRequests(
                        f"identity {row['id']} is in use by an open {other['kind']} session ({other['id']});"
                        " one session at a time keeps its cookies consistent",
                        retry_after=max(1.0, left),
                    )
                await AgentRepo.end_session(conn, other["id"], "its server process stopped")
            session_id = await AgentRepo.start_session(
                conn, row["id"], kind=kind, owner=core.owner, expires_at=expires_at, job_id=job_id
            )
            # The job that holds the session pays for its browser, as it does for a burner; an interactive session
            # announces itself once its browser is up.
            if kind == "job":
                await box.emit(
                    row["workspace_id"],
                    "agent.session.started",
                    {"agent_id": row["id"], "session_id": session_id, "kind": kind, "job_id": job_id},
                )
            return session_id

        return claim

    # -- provisioning ---------------------------------------------------------------------------

    async def provision_persistent(
        self, row: dict[str, Any], spec: CreateSpec, fp: Fingerprint, policy: Policy
    ) -> tuple[list[WarmupVisit] | None, TrustRating]:
        """The first session: warm up, measure trust, and store the resulting state."""
        core = self.core
        async with core.pool.acquire(policy=policy, context_options=context_options(fp)) as burner:
            await apply_fingerprint(burner.context, fp)
            await fingerprint_page(burner.page)
            warmup = None
            if spec.warmup_urls:
                warmup = await warm_up(burner.page, spec.warmup_urls, timeout_ms=core.settings.nav_timeout_ms)
            if spec.initial_url:
                await _goto_quietly(burner, spec.initial_url, core.settings.nav_timeout_ms)
            report = (await measure(burner.context, fp)).report
            assert report is not None
            state = dict(await burner.context.storage_state())
        rating = rate_identity(report, row, sessions=0)
        nonce, sealed = core.seal_state(row["workspace_id"], row["id"], state)
        fields = {
            "status": "running",
            "trust_score": rating.score,
            "trust_report": dumps(report.to_dict()),
            "trust_measured_at": now(),
        }

        async def up(conn: Conn, box: Outbox) -> None:
            await AgentRepo.put_state(conn, row["id"], nonce, sealed)
            await AgentRepo.update(conn, row["id"], **fields)
            await box.emit(
                row["workspace_id"],
                "agent.provisioned",
                event_data({**row, **fields}, cost_credits=core.start_price(row["mode"], row["country"])),
            )

        await core.commit(up)
        return warmup, rating

    # -- interactive sessions -------------------------------------------------------------------

    async def start_interactive(self, row: Row, ttl: float, *, job_id: str) -> LiveBrowser:
        """The identity's own Chromium with its state restored, for a session job (which pays for it)."""
        core = self.core
        expires = now() + ttl
        session_id = await core.commit(self._claim(row, "interactive", expires_at=expires, job_id=job_id))
        live: LiveBrowser | None = None
        try:
            fp = core.fingerprint_of(row)
            state = await core.load_state(row["workspace_id"], row["id"])
            live = await core.launch(row["id"], row["workspace_id"], "interactive", fp, core.policy_of(row))
            if state:
                await live.context.set_storage_state(state)  # type: ignore[arg-type]
            if row["initial_url"] and live.context.pages:
                try:
                    await live.context.pages[0].goto(row["initial_url"], timeout=core.settings.nav_timeout_ms)
                except PlaywrightError as exc:
                    log.info("initial_url of %s did not load: %s", row["id"], str(exc).splitlines()[0])
            live.session_id, live.expires_at = session_id, expires
            fields = {
                "cdp_url": live.process.ws_url,
                "cdp_http": live.process.http_url,
                "pid": live.process.pid,
                "profile_dir": str(live.process.profile_dir),
                "owner": core.owner,
            }

            async def up(conn: Conn, box: Outbox) -> None:
                await AgentRepo.update(conn, row["id"], **fields)
                await box.emit(
                    row["workspace_id"],
                    "agent.session.started",
                    {**event_data({**dict(row), **fields}), "session_id": session_id, "kind": "interactive"},
                )

            await core.commit(up)
            return live
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                if live is not None:
                    await live.stop()
                reason = f"could not start: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}"

                async def undo(conn: Conn, _box: Outbox) -> None:
                    await AgentRepo.end_session(conn, session_id, reason)

                await core.commit(undo)
            raise

    async def end_live(self, live: LiveBrowser, *, reason: str, save: bool) -> SessionClosed:
        """End an interactive session: write its state back (when asked and possible), stop its browser."""
        core = self.core
        async with core.lock(live.agent_id):
            sealed: tuple[bytes, bytes] | None = None
            counts = (0, 0)
            if save and core.live.get(live.agent_id) is live and live.process.running:
                try:
                    state = await live.storage_state()
                    sealed = core.seal_state(live.workspace_id, live.agent_id, state)
                    counts = (len(state.get("cookies") or []), len(state.get("origins") or []))
                except (PlaywrightError, TimeoutError) as exc:
                    log.warning("could not save the state of %s: %s", live.agent_id, exc)
                    reason += "; its state could not be saved"
            if core.live.get(live.agent_id) is live:
                del core.live[live.agent_id]
                await live.stop()
                core.unreserve()
            session_id = live.session_id or ""

            async def end(conn: Conn, box: Outbox) -> None:
                if sealed is not None and await AgentRepo.status_in(conn, live.agent_id) == "running":
                    await AgentRepo.put_state(conn, live.agent_id, *sealed)
                ended = await AgentRepo.end_session(conn, session_id, reason)
                await AgentRepo.forget_browser(conn, live.agent_id, core.owner)
                if ended:
                    await box.emit(
                        live.workspace_id,
                        "agent.session.ended",
                        {
                            "agent_id": live.agent_id,
                            "session_id": session_id,
                            "kind": "interactive",
                            "reason": reason,
                            "state_saved": sealed is not None,
                        },
                    )

            await core.commit(end)
        return SessionClosed(
            agent_id=live.agent_id,
            session_id=session_id,
            state_saved=sealed is not None,
            cookies=counts[0],
            origins=counts[1],
        )

    # -- the browser a job runs in --------------------------------------------------------------

    @asynccontextmanager
    async def job_browser(
        self,
        workspace_id: str,
        params: dict[str, Any],
        *,
        policy: Policy,
        on_block: Any = None,
        job_id: str | None = None,
    ) -> AsyncIterator[Burner]:
        """A pool context: plain, fingerprinted (`os_type`/`country`), or on a persistent identity (`identity_id`)."""
        core = self.core
        identity_id = params.get("identity_id")
        if identity_id:
            async with self._identity_context(workspace_id, str(identity_id), policy, on_block, job_id) as burner:
                yield burner
            return
        os_type, country = params.get("os_type"), params.get("country")
        if not os_type and not country:
            async with core.pool.acquire(policy=policy, on_block=on_block) as burner:
                yield burner
            return
        if (os_type or DEFAULT_OS) not in OS_TYPES:
            raise BadRequest(f"os_type {os_type!r} is not one of {', '.join(OS_TYPES)}")
        browser = await core.host.browser()
        try:
            fp = core.fingerprint_factory(
                os_type=os_type or DEFAULT_OS, country=country, chromium_version=browser.version
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        surcharge = core.country_surcharge(fp.country)
        if surcharge:

            async def pay(conn: Conn, _box: Outbox) -> None:
                await core.charge(
                    conn, workspace_id, surcharge, f"burner in {fp.country}", agent_id=None, job_id=job_id
                )

            await core.commit(pay)
        async with core.pool.acquire(policy=policy, on_block=on_block, context_options=context_options(fp)) as burner:
            await apply_fingerprint(burner.context, fp)
            await fingerprint_page(burner.page)
            yield burner

    @asynccontextmanager
    async def _identity_context(
        self, workspace_id: str, agent_id: str, policy: Policy, on_block: Any, job_id: str | None
    ) -> AsyncIterator[Burner]:
        core = self.core
        row = await core.repo.get(agent_id.strip(), workspace_id)
        if row is None:
            raise NotFound(f"identity {agent_id[:60]!r} not found; list_identities shows yours")
        self.check_runnable(row)
        # The identity's own allowlist holds for every job on it: a host must pass both lists.
        own = core.policy_of(row).allowed_domains
        policy = replace(policy, allowed_domains=intersect_allowed_domains(policy.allowed_domains, own))
        fp = core.fingerprint_of(row)
        state = await core.load_state(workspace_id, row["id"])
        session_id = await core.commit(self._claim(row, "job", job_id=job_id))
        saved: dict[str, Any] | None = None
        reason = "job finished"
        try:
            options = context_options(fp)
            if state:
                options["storage_state"] = state
            async with core.pool.acquire(policy=policy, on_block=on_block, context_options=options) as burner:
                await apply_fingerprint(burner.context, fp)
                await fingerprint_page(burner.page)
                try:
                    yield burner
                finally:
                    with anyio.CancelScope(shield=True):
                        try:
                            with anyio.fail_after(20):
                                saved = dict(await burner.context.storage_state())
                        except (PlaywrightError, TimeoutError) as exc:
                            log.warning("could not save the state of %s after a job: %s", row["id"], exc)
                            reason = "job finished; its state could not be saved"
        finally:
            with anyio.CancelScope(shield=True):
                sealed = core.seal_state(workspace_id, row["id"], saved) if saved is not None else None

                async def end(conn: Conn, box: Outbox) -> None:
                    if sealed is not None and await AgentRepo.status_in(conn, row["id"]) == "running":
                        await AgentRepo.put_state(conn, row["id"], *sealed)
                    if await AgentRepo.end_session(conn, session_id, reason):
                        await box.emit(
                            workspace_id,
                            "agent.session.ended",
                            {
                                "agent_id": row["id"],
                                "session_id": session_id,
                                "kind": "job",
                                "job_id": job_id,
                                "reason": reason,
                                "state_saved": sealed is not None,
                            },
                        )

                await core.commit(end)


async def _goto_quietly(burner: Burner, url: str, timeout_ms: int) -> None:
    try:
        await burner.page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    except PlaywrightError as exc:
        log.info("initial_url %s did not load: %s", url, str(exc).splitlines()[0])
