"""Host-driven sessions: open, navigate, act, observe, close and list — the browser group's tools call these.

A session is a job of kind "session" pinned to this process; its runner (sessions/runner.py) holds the browser.
Every lookup is scoped to the caller's workspace: another workspace's session is NOT_FOUND, an ended one is
AGENT_NOT_RUNNING saying why it ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from mcp_browsa.browser.pool import BurnerPool
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.engine.observation import mask_text
from mcp_browsa.errors import (
    AgentNotRunning,
    BadRequest,
    BrowsaError,
    Forbidden,
    InsufficientCredit,
    NotFound,
    TooManyRequests,
    UpstreamUnavailable,
)
from mcp_browsa.models import TERMINAL, Job
from mcp_browsa.netpolicy import Policy
from mcp_browsa.sessions.domains import default_allowed_domains, session_url
from mcp_browsa.sessions.human import refuse_page_for_login, wait_for_person
from mcp_browsa.sessions.live import LiveSession
from mcp_browsa.sessions.models import (
    MAX_IDLE_SECONDS,
    MAX_TTL_SECONDS,
    SessionEnded,
    SessionList,
    SessionRequest,
    SessionView,
    StepResult,
)
from mcp_browsa.sessions.runner import Slot
from mcp_browsa.sessions.steps import look, perform
from mcp_browsa.storage.db import Conn
from mcp_browsa.storage.jobs import JobRepo

__all__ = ["OPEN_WAIT", "SessionService"]

T = TypeVar("T")
OPEN_WAIT = 45.0  # hosts cut a call near 60 s; a browser that is not up by then is reported, not waited for
_CLOSE_WAIT = 30.0
_UUID = set("0123456789abcdef-")


class SessionService:
    def __init__(
        self,
        engine: JobEngine,
        pool: BurnerPool,
        *,
        owner: str,
        lease_seconds: float,
        policy: Callable[..., Policy],
        precheck: Callable[[str, Policy], None],
        identity_check: Callable[[str, str], Awaitable[None]],
        identity_state: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.owner = owner
        self.lease_seconds = lease_seconds  # of the pin on a session's job until its browser is up
        self.policy = policy
        self.precheck = precheck
        self.identity_check = identity_check
        self.identity_state = identity_state
        self.slots: dict[str, Slot] = {}
        self.browsers = True  # False on a front-end started with --no-worker: it opens no browsers

    # -- opening -----------------------------------------------------------------------------------

    async def open(self, workspace_id: str, request_id: str | None, req: SessionRequest) -> SessionView:
        """Check the request, start its job, and answer once its browser shows the first page."""
        if not self.browsers:
            raise BadRequest(
                "this server runs no browsers (--no-worker); a host-driven session lives in the process that opens"
                " it, so open it on a server started without --no-worker, and drive it there"
            )
        if req.cdp:
            self.pool.host.refuse_own_chromium("cdp=true", "open the session without cdp: the session tools drive it")
        if req.identity_id is not None:
            await self.identity_check(workspace_id, req.identity_id)
        url = session_url(req.initial_url, field="initial_url") if req.initial_url is not None else None
        if req.human_login:
            if req.identity_id is None or url is None:
                raise BadRequest(
                    "human_login needs identity_id (the persistent identity to sign in) and initial_url (the site's"
                    " login page)"
                )
            req = req.model_copy(update={"allow_writes": True})  # the sign-in form posts; the allowlist keeps it there
        domains = list(req.allowed_domains) if req.allowed_domains is not None else default_allowed_domains(url)
        if not domains:
            raise BadRequest('allowed_domains is empty: name the hosts this session may reach, or ["*"] for any')
        policy = self.policy(domains, allow_writes=req.allow_writes)
        if url is not None:
            self.precheck(url, policy)
        if not 10 <= req.ttl_seconds <= MAX_TTL_SECONDS:
            raise BadRequest(f"ttl must be between 10 s and {MAX_TTL_SECONDS:g} s (1 h)")
        if not 10 <= req.idle_seconds <= MAX_IDLE_SECONDS:
            raise BadRequest(f"idle_timeout must be between 10 s and {MAX_IDLE_SECONDS:g} s")
        if self.pool.in_use >= self.pool.max:
            raise TooManyRequests(
                f"all {self.pool.max} browser slots (BROWSA_MAX_BURNERS) are busy; close a session or retry shortly",
                retry_after=5.0,
            )
        req = req.model_copy(update={"initial_url": url, "allowed_domains": domains})
        job = await self.engine.submit(
            workspace_id, "session", req, request_id=request_id, agent_id=req.identity_id, extra=self._pin
        )
        slot = self.slots.setdefault(job.id, Slot())
        with anyio.move_on_after(OPEN_WAIT):
            await slot.ready.wait()
        live = slot.live
        if live is None or not live.open:
            return await self._not_opened(workspace_id, job.id, slot)
        live.touch()
        view = self._view(live)
        if not req.human_login:  # a sign-in page is the person's: the model reads none of it
            view.observation = live.obs.text if live.obs is not None else None
        view.outcome = slot.opened
        return view

    async def _pin(self, conn: Conn, job_id: str) -> None:
        # Before the commit: only this process may claim it, and open() finds its slot from the first moment.
        await JobRepo.pin(conn, job_id, self.owner, self.lease_seconds)
        self.slots.setdefault(job_id, Slot())

    async def _not_opened(self, workspace_id: str, job_id: str, slot: Slot) -> SessionView:
        job = await self.engine.get(workspace_id, job_id, with_items=False)
        if job.status not in TERMINAL:
            await self.engine.cancel(workspace_id, job_id)
            with anyio.move_on_after(10):
                await slot.done.wait()
            raise TooManyRequests(
                f"the session's browser did not start within {OPEN_WAIT:g} s (every browser slot may be busy);"
                " retry shortly",
                retry_after=10.0,
            )
        message = f"the session could not open: {job.error_message or job.error_code}"
        if job.error_code == TooManyRequests.code:
            raise TooManyRequests(message, retry_after=10.0, job_id=job_id)
        raise _ERRORS.get(job.error_code or "", UpstreamUnavailable)(message, job_id=job_id)

    # -- lookups -----------------------------------------------------------------------------------

    async def get(self, workspace_id: str, session_id: str) -> LiveSession:
        """The open session, or NOT_FOUND / AGENT_NOT_RUNNING saying why it cannot be driven."""
        sid = session_id.strip().lower() if isinstance(session_id, str) else ""
        job = None
        if len(sid) == 36 and set(sid) <= _UUID:
            job = await self.engine.jobs.get(sid, workspace_id)
        if job is None or job.kind != "session":
            raise NotFound(f"session {session_id[:60]!r} not found; list_sessions shows your open sessions")
        slot = self.slots.get(job.id)
        live = slot.live if slot is not None else None
        if live is not None and live.open:
            return live
        if job.status in TERMINAL or (live is not None and not live.open):
            if slot is not None:
                with anyio.move_on_after(_CLOSE_WAIT):
                    await slot.done.wait()
                job = await self.engine.get(workspace_id, job.id, with_items=False)
            raise AgentNotRunning(_ended_message(job), job_id=job.id, status=job.status)
        if slot is not None:
            raise AgentNotRunning(
                f"session {job.id} is still starting its browser; call again in a moment", job_id=job.id
            )
        owner = await self.engine.jobs.lease_owner(job.id)
        raise AgentNotRunning(
            f"session {job.id} lives in another server process ({owner or 'one that has stopped'}), not this one"
            f" ({self.owner}); drive it through the server that opened it (its open_session answer names it as"
            " served_by), or open a new one here",
            job_id=job.id,
            served_by=owner,
        )

    def _view(self, live: LiveSession) -> SessionView:
        req = live.request
        try:
            url: str | None = mask_text(live.tabs.active.url, live.masks)
        except RuntimeError:
            url = None
        return SessionView(
            session_id=live.id,
            status="open" if live.open else "ended",
            identity_id=req.identity_id,
            allowed_domains=req.allowed_domains or [],
            allow_writes=req.allow_writes,
            expires_at=round(live.expires_at, 3),
            idle_timeout_seconds=req.idle_seconds,
            url=url,
            cdp_url=live.cdp_url,
            live_url=live.view.job_url if live.view is not None else None,
            human_login=req.human_login or None,
            served_by=self.owner,
        )

    # -- driving -----------------------------------------------------------------------------------

    async def use(self, workspace_id: str, session_id: str, fn: Callable[[LiveSession], Awaitable[T]]) -> T:
        """Run `fn` on the open session, after any call already on it; each call starts the idle timeout again.

        A person holding the browser in the live view holds the call until they hand it back (what they did is
        `live.human_note` meanwhile); a human_login session's page is refused to every call.
        """
        live = await self.get(workspace_id, session_id)
        refuse_page_for_login(live)
        async with live.lock:
            live.touch()
            try:
                live.human_note = await wait_for_person(live)
                if not live.open:
                    raise AgentNotRunning(f"session {live.id} has ended ({live.end_reason})", job_id=live.id)
                return await fn(live)
            finally:
                live.human_note = None
                live.touch()

    async def step(self, workspace_id: str, session_id: str, action: str, args: dict[str, Any]) -> StepResult:
        async def run(live: LiveSession) -> StepResult:
            if live.human_note is not None:  # the action was chosen on a page the person has since changed
                return await _observed(live, ok=False, after=f"Your {action} was not run: here is the page now.")
            return await perform(live, action, args)

        return await self.use(workspace_id, session_id, run)

    async def navigate(self, workspace_id: str, session_id: str, url: str) -> StepResult:
        live = await self.get(workspace_id, session_id)
        target = session_url(url)
        self.precheck(target, self.policy(live.request.allowed_domains, allow_writes=live.request.allow_writes))
        return await self.step(workspace_id, session_id, "navigate", {"url": target})

    async def observe(self, workspace_id: str, session_id: str) -> StepResult:
        return await self.use(workspace_id, session_id, _observed)

    # -- ending and listing ------------------------------------------------------------------------

    async def close(self, workspace_id: str, session_id: str) -> SessionEnded:
        live = await self.get(workspace_id, session_id)
        live.end("closed on request (close_session)")
        slot = self.slots.get(live.id)
        if slot is not None:
            with anyio.move_on_after(_CLOSE_WAIT):
                await slot.done.wait()
        job = await self.engine.wait(workspace_id, live.id, 10)
        saved = None
        if live.request.identity_id:
            reason = await self.identity_state(live.id)
            saved = reason is not None and "could not be saved" not in reason
        return SessionEnded(
            session_id=live.id,
            reason=str((job.result or {}).get("ended") or live.end_reason),
            state_saved=saved,
            credits_charged=job.credits_charged,
            steps=job.step_count,
        )

    async def list(self, workspace_id: str) -> SessionList:
        views = [
            self._view(slot.live)
            for slot in self.slots.values()
            if slot.live is not None and slot.live.open and slot.live.workspace_id == workspace_id
        ]
        views.sort(key=lambda v: v.expires_at, reverse=True)
        return SessionList(sessions=views, count=len(views))

    def active_page(self, workspace_id: str, session_id: str) -> Any:
        """The active tab of an open session in this process, or None (for the live view)."""
        slot = self.slots.get(session_id)
        live = slot.live if slot is not None else None
        if live is None or not live.open or live.workspace_id != workspace_id:
            return None
        return live.page


async def _observed(live: LiveSession, *, ok: bool = True, after: str = "") -> StepResult:
    """The page now; the outcome starts with what a person did in the live view since the last call, if anything."""
    obs = await look(live)
    dialog = live.events.dialog
    said = " ".join(part for part in (live.human_note, after, f"observed {obs.url[:200]}") if part)
    return StepResult(
        session_id=live.id,
        ok=ok,
        outcome=said,
        url=obs.url,
        tabs=len(live.tabs),
        dialog=mask_text(live.events.describe(dialog), live.masks) if dialog is not None else None,
        observation=obs.text,
    )


def _ended_message(job: Job) -> str:
    reason = (job.result or {}).get("ended") or job.error_message or job.status
    return f"session {job.id} has ended ({reason}); open_session starts a new one"


_ERRORS: dict[str, type[BrowsaError]] = {
    e.code: e for e in (BadRequest, NotFound, AgentNotRunning, InsufficientCredit, Forbidden)
}
