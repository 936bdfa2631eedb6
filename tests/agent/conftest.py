"""Fixtures for agent tests: one shop site, one fake LLM vendor and one running Browsa per module.

The Browsa is driven directly (fast); the MCP tests spawn real servers instead. Models are named with an
explicit base URL, so no key or endpoint from the environment is ever used.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.config import load_settings
from mcp_browsa.errors import AgentNotRunning
from mcp_browsa.llm import RetryPolicy
from tests.agent.support import CALLER, FormInbox, ended
from tests.support.fake_llm import FakeLLM
from tests.support.sites import Site, serve_site


@pytest.fixture(scope="module")
def shop() -> Iterator[Site]:
    with serve_site() as site:
        yield site


@pytest.fixture
def home() -> Iterator[Path]:
    """A data dir with a short path: Chromium's socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def inbox(shop: Site) -> FormInbox:
    box = FormInbox()
    shop.routes["/agent/submit"] = box.route()
    return box


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def fake(vendor: FakeLLM, app: Browsa) -> AsyncIterator[FakeLLM]:
    """The module's fake vendor, reset for this test; a policy that raised fails the test.

    Jobs a test left running are cancelled and waited for, so they never talk to the next test's policy.
    """
    vendor.reset()
    yield vendor
    active = await app.db.fetchall(
        "SELECT id FROM jobs WHERE status IN ('queued','running','input_required','human_control')"
    )
    for row in active:
        with contextlib.suppress(AgentNotRunning):
            await app.cancel_job(CALLER, row["id"])
    for row in active:
        await ended(app, row["id"], timeout=30)
    vendor.check()


@pytest.fixture(scope="module")
def claude(vendor: FakeLLM) -> str:
    return f"anthropic:claude-haiku-4-5@{vendor.anthropic_base_url}"


@pytest.fixture(scope="module")
def gpt(vendor: FakeLLM) -> str:
    return f"openai:gpt-4.1-mini@{vendor.openai_base_url}"


@pytest.fixture(scope="module")
async def app(shop: Site, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browsa]:
    home = tmp_path_factory.mktemp("agent")
    exempt = f"127.0.0.1:{shop.port},localhost:{shop.port}"
    settings = load_settings({"BROWSA_HOME": str(home), "BROWSA_ALLOW_PRIVATE_NETWORK": exempt})
    async with Browsa(settings).running() as running:
        # Vendor retries in milliseconds, not seconds: the rate-limit test waits them all out.
        running.agents.retry = RetryPolicy(max_retries=2, base_delay=0.02, max_delay=0.1)
        yield running
