"""Soak, bounded: rounds of mixed jobs for about 45 seconds with the server's memory and file descriptors sampled
idle after every round. Nothing may grow past `SOAK_BOUNDS` (scenarios.py says what they are and why); the
benchmark runs the 5-minute version and judges it by the same bounds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.common import settled, site_env, tiny_scrape
from tests.reliability.conftest import KEY
from tests.reliability.scenarios import SOAK_BOUNDS, soak
from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import spawn_stdio
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

SECONDS = 45


async def test_repeated_jobs_leak_no_descriptors_memory_processes_or_contexts(
    tmp_path: Path, pages: Site, vendor: FakeLLM
) -> None:
    async with spawn_stdio(tmp_path, **site_env(pages, **vendor.env())) as server, server.client() as client:
        await tiny_scrape(client, pages, "warm-up")
        before = await settled(client, server.pid)
        report = await soak(client, server.pid, pages, seconds=SECONDS, key=KEY)
        after = await settled(client, server.pid, like=before)
    assert report.failed == 0 and report.jobs >= 4 * 9
    samples = {f: [getattr(s, f) for s in report.samples] for f in ("server_fds", "server_pss_mib", "chromium")}
    assert SOAK_BOUNDS.leaks(report) == [], samples
    assert after.contexts == before.contexts
