"""What a live view of a job shows besides the picture (status, last action, question) and where its answer goes.

Read from the jobs table, so the page says what get_job says; woken by the engine's bus when the job changes.
"""

from __future__ import annotations

from typing import Any

from mcp_browsa.engine.agent.tasks import AgentTasks
from mcp_browsa.engine.jobs import JobEngine
from mcp_browsa.errors import NotFound
from mcp_browsa.live.registry import TargetHooks

__all__ = ["job_hooks"]


def job_hooks(engine: JobEngine, tasks: AgentTasks, workspace_id: str, job_id: str) -> TargetHooks:
    async def describe() -> dict[str, Any]:
        try:
            job = await engine.get(workspace_id, job_id, with_items=False)
        except NotFound:
            return {"status": "unknown"}
        return {"status": job.status, "last_action": job.last_action, "question": job.question, "kind": job.kind}

    async def changed(timeout: float) -> None:
        await engine.bus.wait_job(job_id, timeout)

    async def answer(text: str, secret: bool) -> None:
        await tasks.respond(workspace_id, job_id, text, secret=secret)

    return TargetHooks(describe, changed, answer)
