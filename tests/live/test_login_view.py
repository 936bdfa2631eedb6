"""A `login` job is shown live while it signs in, as a task is: its live_url while it runs, no vault value on the
view, a person's control pausing it between steps, and the address dead (410) once it is over."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import SimpleHTTPRequestHandler
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Page

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.config import load_settings
from mcp_browsa.engine.observation import MASK
from mcp_browsa.engine.requests.login import LoginRequest
from mcp_browsa.models import Job
from tests.support.login_site import LoginLog, add_login_pages
from tests.support.sites import Site, respond, serve_site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

USERNAME = "grace.hopper+live@example.com"
PASSWORD = "cobol & compilers=fun!"
HELD = 90.0  # the test releases the page long before; only a broken run waits this long


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, LoginLog, threading.Event]]:
    release = threading.Event()
    with serve_site() as s:
        log = add_login_pages(s, USERNAME, PASSWORD)

        def held(h: SimpleHTTPRequestHandler) -> None:
            # The sign-in page answers when the test says so: the login job is running, with nothing done yet.
            release.wait(HELD)
            respond(
                h,
                b"<!doctype html><title>Sign in</title><h1>Sign in</h1><form method=post action=/login>"
                b"<label>Email <input type=email name=email autocomplete=username></label>"
                b"<label>Password <input type=password name=password></label><button>Sign in</button></form>",
            )

        s.routes["/held-login"] = held
        yield s, log, release


@pytest.fixture(scope="module")
async def app(
    tmp_path_factory: pytest.TempPathFactory, site: tuple[Site, LoginLog, threading.Event]
) -> AsyncIterator[Browsa]:
    settings = load_settings(
        {
            "BROWSA_HOME": str(tmp_path_factory.mktemp("login-live")),
            "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{site[0].port}",
        }
    )
    async with Browsa(settings).running() as running:
        await running.vault.set(Caller().workspace_id, "site_username", USERNAME)
        await running.vault.set(Caller().workspace_id, "site_password", PASSWORD)
        yield running


async def until(app: Browsa, job_id: str, ok: Callable[[Job], bool], what: str) -> Job:
    """The job once `ok(job)` holds; fails naming `what` if it ends first or not within a minute."""

    async def there() -> Job | None:
        job = await app.get_job(Caller(), job_id)
        if ok(job):
            return job
        assert job.status in ("queued", "running", "human_control"), f"{what}: {job.status} {job.error_message}"
        return None

    return await wait_until(there, what, timeout=60)


async def test_a_login_is_shown_live_with_its_secrets_hidden(
    app: Browsa, site: tuple[Site, LoginLog, threading.Event], person: Page
) -> None:
    pages, log, release = site
    # The address carries the username, as some sign-in links do: the view must not show it.
    url = pages.url(f"/held-login?login_hint={quote(USERNAME)}")
    job = await app.logins.submit(
        Caller().workspace_id, None, LoginRequest(service="site", url=url, timeout_seconds=120)
    )
    job = await until(app, job.id, lambda j: j.live_url is not None, "no live_url while the login runs")
    assert job.status == "running" and job.live_url is not None and job.live_url.startswith("http://127.0.0.1:")
    live_url = job.live_url

    await person.goto(live_url)
    await person.wait_for_function("() => document.getElementById('status').textContent === 'running'")
    await person.wait_for_function("() => !document.getElementById('control').disabled")
    await person.click("#control")  # held before the login does anything: it waits for the hand-back
    await person.wait_for_function("() => document.getElementById('control').textContent === 'Hand back'")
    release.set()

    await until(app, job.id, lambda j: j.status == "human_control", "the person's control is not on the job")
    shown = f"http://127.0.0.1:{pages.port}/held-login?login_hint={MASK}"
    await person.wait_for_function("(u) => document.getElementById('url').textContent === u", arg=shown)
    await person.wait_for_function("() => Number(document.getElementById('screen').dataset.frames || 0) > 0")
    text = await person.evaluate("() => document.body.innerText + document.documentElement.outerHTML")
    for spelling in (USERNAME, quote(USERNAME), PASSWORD, quote(PASSWORD)):
        assert spelling not in text
    job = await app.get_job(Caller(), job.id)
    assert job.progress_done in (None, 0) and not log.posts  # nothing filled or sent while the person holds it

    await person.click("#control")
    job = await until(app, job.id, lambda j: j.status not in ("queued", "running", "human_control"), "never ended")
    # What the job saw and what the site received tell a lost session cookie from a form never sent.
    assert job.status == "completed", (job.error_message, job.result, [path for path, _ in log.posts])
    assert log.posts and log.posts[-1][1].get("password") == PASSWORD  # the login went on after the hand-back
    assert job.live_url is None
    async with httpx.AsyncClient() as client:
        assert (await client.get(live_url)).status_code == 410
    await person.wait_for_function("() => document.getElementById('status').textContent.includes('ended')")
