"""Soak, bounded: rounds of mixed jobs for about 45 seconds with the server's memory and file descriptors sampled
idle after every round. Nothing may grow past these bounds (the benchmark runs the longer version):

- the server's own descriptors: not one more after warm-up (a leaked socket or file per job would show at once);
- the server's memory (PSS): at most 30 MiB more (it warms up by a few MiB and levels off near 150 MiB);
- the browser: no extra processes, the same contexts open (a leaked context per job would add one each round).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.common import settled, site_env, tiny_scrape
from tests.reliability.conftest import KEY
from tests.reliability.scenarios import soak
from tests.support.fake_llm import FakeLLM
from tests.support.mcp_server import spawn_stdio
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

SECONDS = 45
MAX_SERVER_FD_GROWTH = 0
MAX_SERVER_PSS_GROWTH_MIB = 30
MAX_CHROMIUM_GROWTH = 2  # Chromium starts a spare renderer (and may drop it) at its own discretion


async def test_repeated_jobs_leak_no_descriptors_memory_processes_or_contexts(
    tmp_path: Path, pages: Site, vendor: FakeLLM
) -> None:
    async with spawn_stdio(tmp_path, **site_env(pages, **vendor.env())) as server, server.client() as client:
        await tiny_scrape(client, pages, "warm-up")
        before = await settled(client, server.pid)
        report = await soak(client, server.pid, pages, seconds=SECONDS, key=KEY)
        after = await settled(client, server.pid, like=before)
    assert report.failed == 0 and report.jobs >= 4 * 9
    assert report.growth("server_fds") <= MAX_SERVER_FD_GROWTH, [s.server_fds for s in report.samples]
    assert report.growth("server_pss_mib") <= MAX_SERVER_PSS_GROWTH_MIB, [s.server_pss_mib for s in report.samples]
    assert report.growth("chromium") <= MAX_CHROMIUM_GROWTH, [s.chromium for s in report.samples]
    assert after.contexts == before.contexts
