"""The `input_required` hand-off: the running task asks a human, `respond_to_job` answers, the task goes on.

The worker keeps its lease and its browser while it waits. An answer reaches it through the jobs table, so a
respond_to_job in another process works too. A secret answer is sealed into the vault under a name for this job
(deleted when the job ends); the jobs table, the events and the model only ever see that name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from mcp_browsa.engine.context import JobContext
from mcp_browsa.engine.observation import MASK
from mcp_browsa.storage.db import Conn, Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.progress import JobProgressRepo
from mcp_browsa.webhooks import enqueue_event
from mcp_browsa.webhooks.events import job_event_data
from mcp_browsa.workspace_secrets import Vault

__all__ = ["ASKED_EVENT", "HUMAN_WAIT_SECONDS", "HumanAnswer", "HumanChannel", "deliver_answer"]

ASKED_EVENT = "job.input_required"
HUMAN_WAIT_SECONDS = 3600.0  # how long a task holds its browser waiting for an answer


@dataclass(frozen=True)
class HumanAnswer:
    """`text` is the answer itself, or for a secret answer the vault name to write as {{secret:NAME}}."""

    text: str
    secret: bool


async def deliver_answer(
    db: Database, vault: Vault, workspace_id: str, job_id: str, answer: str, *, secret: bool
) -> bool:
    """Store the answer for the waiting worker; False when the job is not waiting (or was answered already)."""
    if secret:
        stored = {"secret": True, "name": await vault.put_job_answer(workspace_id, job_id, answer)}
    else:
        stored = {"secret": False, "text": answer}
    async with db.transaction() as conn:
        if not await JobProgressRepo.store_answer(conn, job_id, json.dumps(stored)):
            return False
        shown = MASK if secret else answer[:500]
        await JobRepo.add_event(conn, job_id, "human.answered", {"secret": secret, "answer": shown})
    return True


class HumanChannel:
    """Asks the human for one running task and waits (cancellable) for the answer."""

    def __init__(self, ctx: JobContext, *, poll_interval: float, max_wait: float = HUMAN_WAIT_SECONDS) -> None:
        self.ctx = ctx
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.asked = 0

    async def ask(
        self, question: str, *, step: int, in_browser: bool = False, on_wait: Callable[[], None] | None = None
    ) -> HumanAnswer | str:
        """The human's answer, or a reason string when none came (cancelled, or no answer in time). `in_browser`:
        the person has to act on the page (a CAPTCHA), so a client that can open URLs is sent the live view."""
        self.asked += 1
        ctx = self.ctx
        asked: dict[str, Any] = {"question": question, "step": step}
        if in_browser:
            asked["in_browser"] = True

        async def enter(conn: Conn) -> None:
            await JobProgressRepo.ask(conn, ctx.id, question, f"step {step}: asked the user: {question[:120]}")
            base = {"job_id": ctx.id, "kind": ctx.job.kind, "status": "input_required", "question": question}
            await enqueue_event(conn, ctx.workspace_id, ASKED_EVENT, await job_event_data(conn, ctx.id, base))

        await ctx.write(enter, event=(ASKED_EVENT, asked))
        await ctx.emit(ASKED_EVENT, {"job_id": ctx.id, "question": question})
        if on_wait is not None:
            on_wait()
        try:
            raw = await self._wait()
        finally:
            with anyio.CancelScope(shield=True):
                await ctx.write(_resume(ctx.id))
        if raw is None:
            return "cancelled" if ctx.cancelled else f"no answer within {self.max_wait / 60:g} minutes"
        stored = json.loads(raw)
        if stored.get("secret"):
            return HumanAnswer(str(stored.get("name", "")), secret=True)
        return HumanAnswer(str(stored.get("text", "")), secret=False)

    async def _wait(self) -> str | None:
        deadline = time.monotonic() + self.max_wait
        progress, bus = JobProgressRepo(self.ctx.engine.db), self.ctx.engine.bus
        while not self.ctx.cancelled and time.monotonic() < deadline:
            answer = await progress.answer(self.ctx.id)
            if answer is not None:
                return answer
            # Woken at once by an answer or a cancel in this process; the poll sees other processes' answers.
            await bus.wait_job(self.ctx.id, min(self.poll_interval, max(0.0, deadline - time.monotonic())))
        return None


def _resume(job_id: str) -> Callable[[Conn], Any]:
    async def write(conn: Conn) -> None:
        await JobProgressRepo.resume(conn, job_id)

    return write
