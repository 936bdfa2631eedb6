"""Every tool fuzzed through the MCP client with generated arguments (tests/reliability/fuzz.py): wrong types,
huge strings, deep JSON, unicode, path-like and URL-like values. One long-lived server answers every call with a
result or the error envelope, never hangs, never dies, and its state stays consistent.

The server runs in a network namespace of its own where only loopback exists (where the machine allows one), no
private address is exempt from the URL guard, and the model endpoints point at a closed local port: nothing a
generated value names can reach past this machine.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.common import db_state, job_ids, ledger
from tests.reliability.faults import loopback_only
from tests.reliability.fuzz import FUZZ_ENV, fuzz_tools, release_identities
from tests.support.mcp_server import call, ok, spawn_stdio
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

EXAMPLES = 30  # per tool, over two rounds: about 750 calls to the ~25 tools, well under a minute


async def test_every_tool_answers_generated_arguments_with_a_result_or_an_envelope(tmp_path: Path) -> None:
    wrapper = loopback_only()
    async with spawn_stdio(tmp_path, wrapper=wrapper, **FUZZ_ENV) as server, server.client() as client:
        report = await fuzz_tools(
            client, examples=EXAMPLES, dns_names=bool(wrapper), alive=lambda: server.process.returncode is None
        )
        assert report.problems == [], "\n".join(report.problems[:20])
        assert report.calls > 20 * EXAMPLES
        assert set(report.errors_by_code) >= {"BAD_REQUEST", "FORBIDDEN", "NOT_FOUND"}, report.errors_by_code

        # Still serving, and everything the fuzzing started comes to an end once cancelled. Identities are
        # destroyed too: they hold burner slots (up to their TTL) that queued jobs would otherwise wait for.
        ok(await call(client, "capacity"))
        still_open: list[dict[str, Any]] = []

        async def wound_down() -> bool:
            still_open.clear()
            for status in ("queued", "running", "input_required"):
                jobs = ok(await call(client, "list_jobs", {"status": status, "limit": 200}))["jobs"]
                still_open.extend(jobs)
                for job in jobs:
                    with contextlib.suppress(AssertionError):  # it may have ended meanwhile
                        ok(await call(client, "cancel_job", {"job_id": job["id"]}))
            await release_identities(client)
            cap: dict[str, Any] = ok(await call(client, "capacity"))
            return not (cap["queued"] or cap["running"] or cap["input_required"])

        t0 = time.monotonic()
        await wait_until(wound_down, lambda: f"every fuzzed job ended (still open: {still_open})", timeout=60)
        took = time.monotonic() - t0
        print(f"fuzzed jobs ended {took:.1f} s after the cancels; slowest calls: {report.slow_calls}")
        assert server.process.returncode is None

    db = tmp_path / "browsa.db"
    state = db_state(db)
    assert state["integrity"] == "ok" and state["ended_twice"] == []
    assert ledger(db).consistent
    # No half-written state: every job in the database is one a successful call handed back.
    assert job_ids(db) <= report.created
