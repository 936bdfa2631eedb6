"""SIGKILL of the server mid-run, then a restart on the same data dir: read-only work resumes, agent tasks end
INTERRUPTED, no job stays running, no ledger row is lost or doubled, and webhook deliveries still pending go out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crashes import server_crash

pytestmark = pytest.mark.anyio


async def test_sigkill_mid_run_then_restart_resumes_reads_interrupts_tasks_and_loses_nothing(
    tmp_path: Path, database: str | Path
) -> None:
    crash = await server_crash(tmp_path, database)
    jobs = crash.jobs
    assert crash.orphans == []  # Chromium noticed its driver was gone and went too
    for role in ("scrape-before", "task-before", "read-0", "read-1"):
        assert jobs[role]["status"] == "completed", (
            role,
            {k: jobs[role].get(k) for k in ("error_code", "error_message")},
        )
    assert jobs["batch"]["status"] == "completed"
    assert [row["status"] for row in jobs["batch"]["items"]] == ["completed"] * 3
    assert crash.rows_fetched_again == 0  # rows finished before the kill were kept, not fetched again
    assert (jobs["task"]["status"], jobs["task"]["error_code"]) == ("failed", "INTERRUPTED"), jobs["task"]

    assert crash.state["integrity"] == "ok"
    assert set(crash.state["statuses"]) <= {"completed", "failed", "cancelled"}, crash.state  # nothing running
    assert crash.state["ended_twice"] == []
    # Every ledger row from before the crash is still there, unchanged, and nothing was written twice.
    before, after = crash.ledger_before, crash.ledger_after
    assert after.rows[: len(before.rows)] == before.rows
    assert before.consistent and after.consistent, (before, after)

    assert crash.undelivered == set()  # pending deliveries went out after the restart, and new ones too
    assert crash.signatures_ok
    assert crash.recovery_seconds < 60
