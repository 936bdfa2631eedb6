"""Job params are a request model's dump: a job queued by the previous version runs after an upgrade, params that
no longer read fail their job with what is wrong (the worker goes on), and no dump carries an API key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine.requests import ScrapeRequest, ScreenshotOptions, TaskRequest
from mcp_browsa.engine.requests.login import LoginRequest
from mcp_browsa.models import Job
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.jobs import JobRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

WS = DEFAULT_WORKSPACE


@pytest.fixture
def pages() -> Iterator[Site]:
    with serve_site() as site:
        yield site


async def queue_as_before(home: Path, kind: str, params: dict[str, Any]) -> str:
    """A job row exactly as the previous version wrote it, in a data dir no process is running on."""
    db = Database(home / "browsa.db")
    await db.open()
    try:
        await LedgerRepo(db).ensure_workspace(WS, initial_credits=100)
        async with db.transaction() as conn:
            return await JobRepo.insert(conn, workspace_id=WS, kind=kind, params=params, request_id=None)
    finally:
        await db.close()


async def test_a_scrape_queued_by_the_previous_version_runs_after_the_upgrade(tmp_path: Path, pages: Site) -> None:
    url = pages.url("/foundation/details.html")
    # The previous version kept the page timeout in milliseconds and had no request model behind its params.
    old = {
        "url": url,
        "formats": ["markdown"],
        "max_chars": 50_000,
        "full_page": True,
        "wait_until": "load",
        "timeout_ms": 20_000,
        "allowed_domains": None,
        "main_content": True,
        "load_media": False,
        "sync": False,
    }
    job_id = await queue_as_before(tmp_path, "scrape", old)
    settings = load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{pages.port}"})
    async with Browsa(settings).running() as app:
        job = await app.get_job(Caller(), job_id, wait=60)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["final_url"] == url and job.result["markdown"].strip()


async def test_params_that_no_longer_read_fail_their_job_and_the_worker_goes_on(tmp_path: Path, pages: Site) -> None:
    broken = await queue_as_before(tmp_path, "scrape", {"url": ["not", "a", "url"], "formats": ["markdown"]})
    settings = load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{pages.port}"})
    async with Browsa(settings).running() as app:
        failed = await app.get_job(Caller(), broken, wait=30)
        assert failed.status == "failed" and failed.error_code == "BAD_REQUEST"
        assert failed.error_message is not None and "stored url cannot be read" in failed.error_message
        assert app.host.launches == 0  # refused before any browser
        later = await app.get_job(Caller(), (await queue_again(app, pages)).id, wait=60)
    assert later.status == "completed", later.error_message


async def queue_again(app: Browsa, pages: Site) -> Job:
    return await app.scrape(Caller(), ScrapeRequest(url=pages.url("/foundation/details.html")))


def test_stored_task_and_login_params_of_the_previous_version_read_through_the_defaults() -> None:
    task = TaskRequest.stored(
        {
            "task": "Find the price",
            "input": None,
            "output": None,
            "success_condition": None,
            "timeout_seconds": 900,
            "llm": "anthropic:claude-haiku-4-5",
            "initial_url": "https://example.com/",
            "max_steps": 20,
            "screenshots": {"mode": "every_step", "full_page": True},
            "fanout": 1,
            "max_credits": None,
            "allowed_domains": None,
            "allow_writes": True,
            "os_type": None,
            "country": None,
            "identity_id": None,
            "a_key_a_later_version_dropped": 1,
        }
    )
    # Written before the key's source and the caller's locality were recorded: a server key, a remote caller.
    assert (task.key_source, task.llm_local) == ("env", False)
    assert task.shots == ScreenshotOptions(mode="every_step", full_page=True)
    login = LoginRequest.stored({"service": "site", "url": "https://example.com/login", "timeout_ms": 30_000})
    assert login.timeout_seconds == 30 and login.username_name == "site_username"
    # Accepted under other limits, a stored value is kept as it was accepted rather than failing the job.
    assert TaskRequest.stored({"task": "x", "timeout_seconds": 1.5}).timeout_seconds == 1.5


def test_no_dump_of_a_request_holds_its_api_key() -> None:
    req = TaskRequest(task="Find the price", llm="openai:gpt-4.1-mini", llm_api_key="sk-secret-0123456789")
    assert req.llm_api_key == "sk-secret-0123456789"  # in memory, for the job to use
    assert "sk-secret" not in json.dumps(req.params()) and "sk-secret" not in repr(req)
