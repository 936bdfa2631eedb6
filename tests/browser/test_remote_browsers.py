"""Remote browsers in one process: jobs run on a Playwright server and a CDP endpoint in turn, through the egress proxy
on its shared address; a dead endpoint is skipped, and one where the guard cannot hold is refused.

The remote browsers are real: `playwright run-server` launching the system Chromium, and a Chromium started with
`--remote-debugging-port`. Both are stopped at the end, and no Chromium of theirs may be left.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.browser.discovery import FoundBrowser
from mcp_browsa.config import Settings, load_settings
from mcp_browsa.engine.requests import ScrapeRequest
from tests.support.mcp_server import server_env
from tests.support.remote_browsers import cdp_chromium, free_port, playwright_server
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

PAGE = "/foundation/details.html"


@pytest.fixture(scope="module")
def pw_server(chromium: FoundBrowser) -> Iterator[str]:
    assert chromium.executable is not None
    with playwright_server(chromium.executable) as url:
        yield url


@pytest.fixture(scope="module")
def cdp(chromium: FoundBrowser) -> Iterator[str]:
    assert chromium.executable is not None
    with cdp_chromium(chromium.executable) as url:
        yield url


def remote_settings(home: Path, site: Site, browser_ws: str) -> Settings:
    return load_settings(
        {
            "BROWSA_HOME": str(home),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site.port}",
            "BROWSA_BROWSER_WS": browser_ws,
            "BROWSA_EGRESS_LISTEN": f"127.0.0.1:{free_port()}",
            "BROWSA_WARM_SPARES": "0",
            "BROWSA_BROWSER_START_TIMEOUT": "30",
        }
    )


async def test_jobs_run_on_each_remote_browser_in_turn_and_a_dead_one_is_skipped(
    tmp_path: Path, site: Site, pw_server: str, cdp: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/"
    caplog.set_level(logging.INFO, logger="mcp_browsa.browser")
    async with Browsa(remote_settings(tmp_path, site, f"{dead},{pw_server},{cdp}")).running() as app:
        for n in range(4):
            job = await app.scrape(
                Caller(), ScrapeRequest(url=site.url(f"{PAGE}?n={n}"), formats=["markdown"]), wait=60
            )
            assert job.status == "completed", (job.error_code, job.error_message)
            assert "Detailed comparison" in (job.result or {})["markdown"]
        remote = app.host.remote
        assert remote is not None
        assert len(remote.browsers()) == 2  # both live endpoints served jobs
        turns = [await app.host.next_browser() for _ in range(4)]
        assert turns[0] is turns[2] and turns[1] is turns[3] and turns[0] is not turns[1]
    pages = [r for r in site.requests if r[1] != "/favicon.ico"]  # a browser may ask for the icon; no job did
    assert pages == [("GET", f"{PAGE}?n={n}") for n in range(4)]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and dead.rstrip("/") in skipped[0], skipped  # said once, naming the endpoint
    connected = [r.getMessage() for r in caplog.records if "connected to remote browser" in r.getMessage()]
    assert len(connected) == 2, connected


async def test_with_every_endpoint_down_a_job_fails_upstream_unavailable_naming_each(
    tmp_path: Path, site: Site
) -> None:
    dead = [f"ws://127.0.0.1:{free_port()}/", f"http://127.0.0.1:{free_port()}"]
    async with Browsa(remote_settings(tmp_path, site, ",".join(dead))).running() as app:
        job = await app.scrape(Caller(), ScrapeRequest(url=site.url(PAGE), formats=["markdown"]), wait=60)
        assert job.status == "failed" and job.error_code == "UPSTREAM_UNAVAILABLE"
        message = job.error_message or ""
        assert "no remote browser of BROWSA_BROWSER_WS answers" in message
        assert all(d.rstrip("/") in message for d in dead), message
        assert job.credits_charged == 0
    assert site.requests == []


async def test_a_cdp_endpoint_whose_webrtc_can_leave_the_proxy_is_refused(
    tmp_path: Path, site: Site, chromium: FoundBrowser
) -> None:
    assert chromium.executable is not None
    with cdp_chromium(chromium.executable, webrtc_on_proxy=False) as leaky:
        async with Browsa(remote_settings(tmp_path, site, leaky)).running() as app:
            job = await app.scrape(Caller(), ScrapeRequest(url=site.url(PAGE), formats=["markdown"]), wait=60)
            assert job.status == "failed" and job.error_code == "UPSTREAM_UNAVAILABLE"
            assert "WebRTC" in (job.error_message or "")
            assert "--webrtc-ip-handling-policy=disable_non_proxied_udp" in (job.error_message or "")
    assert site.requests == []


def test_doctor_says_which_remote_browsers_answer(tmp_path: Path, pw_server: str) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/"
    env = server_env(tmp_path, BROWSA_BROWSER_WS=f"{pw_server},{dead}", BROWSA_EGRESS_LISTEN="127.0.0.1:3128")
    done = subprocess.run(
        [sys.executable, "-m", "mcp_browsa", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=os.getcwd(),
    )
    assert done.returncode == 1, done.stderr  # one endpoint is down: something to fix
    lines = done.stdout.splitlines()
    answering = pw_server.split("?", 1)[0]
    assert any(answering in line and "answers, Chromium" in line for line in lines), done.stdout
    assert any(dead in line and "DOES NOT ANSWER" in line for line in lines), done.stdout
    assert any("egress_listen" in line and "127.0.0.1:3128" in line for line in lines), done.stdout
