"""A session pays for each started minute after the first, on its own job, and ends when the balance cannot pay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.sessions import SessionRequest
from mcp_browsa.sessions.runner import charge_minutes
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE as WS

pytestmark = pytest.mark.anyio


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Browsa]:
    settings = load_settings({"BROWSA_HOME": str(tmp_path / "home"), "BROWSA_WARM_SPARES": "0"})
    async with Browsa(settings).running() as running:
        yield running


async def test_started_minutes_are_charged_once_and_an_empty_balance_ends_the_session(app: Browsa) -> None:
    view = await app.sessions.open(WS, None, SessionRequest(allowed_domains=["*"]))
    live = app.sessions.slots[view.session_id].live
    assert live is not None
    # Pretend it has been open two minutes and ten seconds: the third minute has started.
    live.started -= 130
    await charge_minutes(live, app.prices)
    await charge_minutes(live, app.prices)  # again in the same minute: nothing more
    job = await app.get_job(Caller(), view.session_id)
    assert job.credits_charged == app.prices.burner_start + 2 * app.prices.burner_minute
    newest = (await app.engine.ledger.entries(WS, 1))[0]
    assert newest.job_id == view.session_id and newest.description == "session minute 3"

    await app.db.execute("UPDATE workspaces SET balance=0 WHERE id=?", (WS,))
    live.started -= 60
    await charge_minutes(live, app.prices)
    ended = await app.engine.wait(WS, view.session_id, 30)
    assert ended.status == "failed" and ended.error_code == "INSUFFICIENT_CREDIT"
    assert "credit balance ran out" in (ended.error_message or "")
