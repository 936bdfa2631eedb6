"""The reaper: meters live burners minute by minute and cleans up after server processes that died.

At start-up and every half minute it finds agents and sessions whose owning process is gone: their orphan Chromium is
killed (only if its command line still names the agent's profile), an expired burner ends `destroyed`, an unexpired one
`failed`, and a persistent identity's dangling session is closed. Metering charges each started burner-minute as it
starts, so a crash loses at most one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from mcp_browsa.identities.cdp import kill_orphan
from mcp_browsa.identities.core import IdentityCore, Outbox, owner_alive
from mcp_browsa.identities.live import LiveBrowser
from mcp_browsa.identities.models import SessionClosed
from mcp_browsa.storage.db import Conn, Row, now
from mcp_browsa.storage.identities import AgentRepo

__all__ = ["METER_SECONDS", "SWEEP_EVERY", "Reaper"]

log = logging.getLogger(__name__)

METER_SECONDS = 15.0
SWEEP_EVERY = 2  # meter ticks between sweeps for dead owners

EndIdentity = Callable[..., Awaitable[None]]
EndSession = Callable[..., Awaitable[SessionClosed]]


class Reaper:
    def __init__(self, core: IdentityCore, *, end_identity: EndIdentity, end_session: EndSession) -> None:
        self.core = core
        self.end_identity = end_identity
        self.end_session = end_session

    async def loop(self) -> None:
        ticks = 0
        while True:
            await anyio.sleep(METER_SECONDS)
            ticks += 1
            try:
                await self.meter()
                if ticks % SWEEP_EVERY == 0:
                    await self.sweep()
            except Exception:
                log.exception("identity reaper pass failed")

    async def meter(self) -> None:
        """Charge every burner of this process for the minutes it has started since the last charge."""
        for live in list(self.core.live.values()):
            if live.kind == "burner":
                await self._meter_one(live)

    async def _meter_one(self, live: LiveBrowser) -> None:
        core = self.core
        row = await core.repo.get(live.agent_id)
        if row is None or row["status"] != "running" or row["started_at"] is None:
            return
        minutes = core.started_minutes(row["started_at"], min(now(), row["expires_at"] or now()))
        wanted = max(0, minutes - int(row["billed_minutes"] or 0)) * core.prices.burner_minute
        if wanted <= 0:
            return

        async def bill(conn: Conn, _box: Outbox) -> int:
            taken = await core.charge(
                conn,
                row["workspace_id"],
                wanted,
                f"burner {row['id']}: minute {minutes}",
                agent_id=row["id"],
                allow_partial=True,
            )
            await AgentRepo.update(conn, row["id"], billed_minutes=minutes)
            return taken

        if await core.commit(bill) < wanted:
            await self.end_identity(row["id"], "destroyed", "the credit balance ran out", charge=False)

    async def sweep(self) -> None:
        """End what dead server processes on this machine left running (see the module docstring)."""
        core = self.core
        t = now()
        for row in await core.repo.live_rows():
            if row["owner"] == core.owner or owner_alive(row["owner"]):
                continue
            if row["mode"] == "burner" or row["status"] == "queued":
                expired = row["expires_at"] is not None and row["expires_at"] <= t
                if expired:
                    await self.end_identity(
                        row["id"], "destroyed", "its TTL ended while its server was down", charge=False
                    )
                else:
                    await self.end_identity(row["id"], "failed", "the server process running it stopped", charge=False)
                log.warning("reaped identity %s left by dead server %s", row["id"], row["owner"])
                continue
            await anyio.to_thread.run_sync(kill_orphan, row["pid"], row["profile_dir"])
            async with core.db.transaction() as conn:
                await AgentRepo.forget_browser(conn, row["id"], row["owner"])
        for session in await core.repo.stale_sessions():
            if session["owner"] != core.owner and not owner_alive(session["owner"]):
                await self._end_stale(session)

    async def _end_stale(self, session: Row) -> None:
        reason = "its server process stopped"

        async def end(conn: Conn, box: Outbox) -> None:
            if await AgentRepo.end_session(conn, session["id"], reason):
                await box.emit(
                    session["workspace_id"],
                    "agent.session.ended",
                    {
                        "agent_id": session["agent_id"],
                        "session_id": session["id"],
                        "kind": session["kind"],
                        "reason": reason,
                        "state_saved": False,
                    },
                )

        await self.core.commit(end)
