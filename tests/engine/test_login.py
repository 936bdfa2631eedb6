"""The login job in-process: a real Chromium fills vaulted credentials into local login pages behind the URL guard.

The site plays a public host (its port is exempted from the SSRF rule); a second server on 127.0.0.2 plays another
host a hostile form tries to post to.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine.requests.login import LoginRequest
from mcp_browsa.errors import BrowsaError, Forbidden, NotFound
from mcp_browsa.identities.spec import build_spec
from mcp_browsa.models import Job
from tests.support.login_site import LoginLog, add_login_pages
from tests.support.sites import Site, serve_site

pytestmark = pytest.mark.anyio

USERNAME = "ada.lovelace+login@example.com"
PASSWORD = "correct horse&battery=staple!"  # spaces and & take other spellings in URLs
OTHER_HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Site]:
    with serve_site(OTHER_HOST) as s:
        yield s


@pytest.fixture(scope="module")
def site(elsewhere: Site) -> Iterator[tuple[Site, LoginLog]]:
    with serve_site() as s:
        yield s, add_login_pages(s, USERNAME, PASSWORD, exfil_to=elsewhere.url("/steal"))


@pytest.fixture(scope="module")
async def app(
    tmp_path_factory: pytest.TempPathFactory, site: tuple[Site, LoginLog], elsewhere: Site
) -> AsyncIterator[Browsa]:
    home = tmp_path_factory.mktemp("login-home")
    # Both servers count as public here, so only the login's own host scoping keeps the form off the other one.
    exempt = f"127.0.0.1:{site[0].port},{OTHER_HOST}:{elsewhere.port}"
    settings = load_settings({"BROWSA_HOME": str(home), "BROWSA_ALLOW_PRIVATE_NETWORK": exempt})
    async with Browsa(settings).running() as running:
        ws = Caller().workspace_id
        for service, password in (("site", PASSWORD), ("wrong", "not-the-password")):
            await running.vault.set(ws, f"{service}_username", USERNAME)
            await running.vault.set(ws, f"{service}_password", password)
        yield running


async def login(app: Browsa, url: str, service: str = "site", **kw: Any) -> Job:
    job = await app.logins.submit(Caller().workspace_id, None, LoginRequest(service=service, url=url, **kw))
    return await app.get_job(Caller(), job.id, wait=60)


def assert_hidden(app: Browsa, job: Job, *values: str) -> None:
    """No value, in any spelling, in the job as a tool returns it, nor in its recorded events."""
    text = job.model_dump_json()
    for value in values:
        for spelling in (value, quote_plus(value), json.dumps(value)[1:-1]):
            assert spelling not in text, f"{spelling!r} leaked into the job"


async def events(app: Browsa, job_id: str) -> list[dict[str, Any]]:
    rows = await app.db.fetchall("SELECT type, data FROM job_events WHERE job_id=? ORDER BY id", (job_id,))
    return [{"type": r["type"], "data": json.loads(r["data"])} for r in rows]


async def test_a_one_step_form_is_filled_submitted_and_confirmed(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, log = site
    job = await login(app, pages.url("/login"))
    assert job.status == "completed", job.error_message
    assert job.kind == "login"
    result = job.result or {}
    assert result["logged_in"] is True
    assert result["final_url"] == pages.url("/account")
    assert result["title"] == "Account of ••••"  # the page shows the username; the job masks it
    assert "the URL changed" in result["evidence"]
    assert any("input[name=email][type=email]" in s for s in result["steps"])  # not the search or newsletter box
    assert any('clicked button "Sign in"' in s for s in result["steps"])  # not the "Show password" button
    assert ("/login", {"email": USERNAME, "password": PASSWORD}) in log.posts
    assert_hidden(app, job, USERNAME, PASSWORD)
    recorded = await events(app, job.id)
    assert [e for e in recorded if e["type"] == "login.step"]
    assert USERNAME not in json.dumps(recorded) and PASSWORD not in json.dumps(recorded)
    assert job.progress_done == job.progress_total == 4
    # Charged like a burner, through the ledger, with the job named.
    assert job.credits_charged == app.prices.burner_start
    rows = await app.db.fetchall("SELECT amount, description FROM ledger WHERE job_id=?", (job.id,))
    assert [(r["amount"], r["description"]) for r in rows] == [
        (-app.prices.burner_start, "burner for login to 127.0.0.1")
    ]


async def test_a_refused_password_fails_with_the_page_error_masked(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, _log = site
    job = await login(app, pages.url("/login"), service="wrong")
    assert job.status == "failed"
    assert job.error_code == "LOGIN_FAILED"
    assert job.error_message == "the login did not succeed: the page shows: Incorrect password for ••••"
    assert (job.result or {})["logged_in"] is False
    assert_hidden(app, job, USERNAME, "not-the-password")


async def test_a_two_step_page_gets_the_username_then_the_password(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, log = site
    job = await login(app, pages.url("/two-step"))
    assert job.status == "completed", job.error_message
    steps = (job.result or {})["steps"]
    assert any("submitted the username" in s and "Next" in s for s in steps), steps
    assert ("/two-step/done", {"login": USERNAME, "password": PASSWORD}) in log.posts
    assert_hidden(app, job, USERNAME, PASSWORD)


async def test_a_script_form_that_never_changes_the_url_is_judged_by_the_page(
    app: Browsa, site: tuple[Site, LoginLog]
) -> None:
    pages, _log = site
    job = await login(app, pages.url("/spa"))
    assert job.status == "completed", job.error_message
    assert "the URL did not change" in (job.result or {})["evidence"]
    failed = await login(app, pages.url("/spa"), service="wrong")
    assert failed.status == "failed" and failed.error_code == "LOGIN_FAILED"
    assert "Login failed" in (failed.error_message or "")


async def test_values_a_get_form_puts_in_the_url_are_masked_everywhere(
    app: Browsa, site: tuple[Site, LoginLog]
) -> None:
    pages, log = site
    job = await login(app, pages.url("/get-login"), success_text="Welcome")
    assert job.status == "completed", job.error_message
    assert ("/welcome", {"username": USERNAME, "password": PASSWORD}) in log.posts
    assert "password=••••" in (job.result or {})["final_url"]
    assert_hidden(app, job, USERNAME, PASSWORD)
    assert_hidden(app, job, *[json.dumps(e) for e in await events(app, job.id)])


async def test_a_success_selector_or_text_decides_when_given(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, _log = site
    job = await login(app, pages.url("/login"), success_selector="#user-menu")
    assert job.status == "completed", job.error_message
    assert "success_selector '#user-menu' appeared" in (job.result or {})["evidence"]
    job = await login(app, pages.url("/login"), success_text="Two-factor code sent")
    assert job.status == "failed" and job.error_code == "LOGIN_FAILED"
    assert "success_text 'Two-factor code sent' did not appear" in (job.error_message or "")


async def test_a_form_posting_to_another_host_is_blocked_and_that_host_sees_nothing(
    app: Browsa, site: tuple[Site, LoginLog], elsewhere: Site
) -> None:
    pages, _log = site
    job = await login(app, pages.url("/exfil"))
    assert job.status == "failed"
    assert job.error_code == "BLOCKED"
    assert f"the form posts to {elsewhere.url('/steal')}" in (job.error_message or "")
    blocked = (job.result or {})["blocked_requests"]
    assert blocked and all(b["rule"] == "allowed_domains" for b in blocked)
    assert elsewhere.requests == []
    assert_hidden(app, job, USERNAME, PASSWORD)


async def test_a_missing_secret_is_named_before_any_browser_starts(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, _log = site
    before = await app.list_jobs(Caller(), kind="login", limit=200)
    with pytest.raises(NotFound) as caught:
        await app.logins.submit(Caller().workspace_id, None, LoginRequest(service="github", url=pages.url("/login")))
    assert "github_username, github_password" in caught.value.message
    assert "mcp-browsa vault set NAME" in caught.value.message
    after = await app.list_jobs(Caller(), kind="login", limit=200)
    assert after.count == before.count


async def test_a_login_url_the_guard_refuses_is_refused_at_once(app: Browsa) -> None:
    with pytest.raises(Forbidden) as caught:
        await app.logins.submit(
            Caller().workspace_id, None, LoginRequest(service="site", url="http://169.254.169.254/login")
        )
    assert "ssrf:link-local" in caught.value.message
    with pytest.raises(BrowsaError) as bad:
        await app.logins.submit(Caller().workspace_id, None, LoginRequest(service="site", url="file:///etc/passwd"))
    assert bad.value.code == "BAD_REQUEST"


async def test_a_login_on_a_persistent_identity_keeps_its_session(app: Browsa, site: tuple[Site, LoginLog]) -> None:
    pages, _log = site
    ws = Caller().workspace_id
    spec = build_spec(
        mode="persistent",
        ttl=None,
        ttl_seconds=None,
        os_type=None,
        country=None,
        persona="a returning customer",
        warmup_recipe=None,
        initial_url=None,
        allowed_domains=None,
        recipes={},
    )
    identity = await app.identities.create(ws, spec)
    job = await login(app, pages.url("/login"), identity_id=identity.id)
    assert job.status == "completed", job.error_message
    assert job.credits_charged >= app.prices.persistent_session
    state = await app.identities.core.load_state(ws, identity.id) or {}
    assert any(c["name"] == "session" and c["value"] == "signed-in" for c in state.get("cookies", [])), state


async def test_no_value_is_stored_in_clear_in_the_database(app: Browsa) -> None:
    files = [Path(str(app.settings.db_path) + suffix) for suffix in ("", "-wal")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    for value in (USERNAME, PASSWORD, quote_plus(PASSWORD)):
        assert value.encode() not in data
