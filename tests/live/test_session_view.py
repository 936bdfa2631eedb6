"""A host-driven session in the live view: a person watches it, takes control, clicks and types through the
streamed picture; the host's next call waits for the hand-back and says what the person did. And
`human_login`: a person signs an identity in through the live view, no tool ever returns that page, and a later
task on the identity is signed in.
"""

from __future__ import annotations

import anyio
import pytest
from playwright.async_api import Page

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskRequest
from mcp_browsa.errors import Forbidden
from mcp_browsa.sessions import SessionRequest
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE as WS
from tests.agent.support import CALLER, ended, page, tool, until
from tests.identities.test_burners import spec
from tests.live.test_takeover import click_through_picture, frame_src, shown_url
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.login_site import add_login_pages
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

EMAIL, PASSWORD = "ada@example.com", "pw-Live-9f2b-never-seen"


async def test_a_session_is_watched_taken_over_and_handed_back(app: Browsa, shop: Site, person: Page) -> None:
    view = await app.sessions.open(WS, None, SessionRequest(initial_url=shop.url("/live/start.html")))
    assert view.live_url is not None and view.observation is not None
    session = view.session_id
    await person.goto(view.live_url)
    await shown_url(person, shop.url("/live/start.html"))
    first = await frame_src(person)

    # The host's model navigates: the address shown and the picture follow.
    await app.sessions.navigate(WS, session, shop.url("/live/form.html"))
    await shown_url(person, shop.url("/live/form.html"))
    await person.wait_for_function("(old) => document.getElementById('screen').src !== old", arg=first)

    await person.click("#control")
    assert (await until(app, session, "human_control")).status == "human_control"
    await click_through_picture(app, session, person, "input[name=note]")
    await person.keyboard.type("typed by a person")
    await click_through_picture(app, session, person, "#go")

    # No call returns the page while the person has it: observe waits for the hand-back.
    results = []

    async def observe() -> None:
        results.append(await app.sessions.observe(WS, session))

    async with anyio.create_task_group() as tg:
        tg.start_soon(observe)
        target = app.live.registry.target(session)
        assert target is not None
        burner_page = target.views["main"].tabs.active
        await burner_page.wait_for_function("() => document.getElementById('said').textContent.includes('pressed')")
        assert results == []  # still waiting
        await person.click("#control")
    seen = results[0]
    assert seen.outcome.startswith("A person took control of the browser and handed it back")
    assert "2 clicks" in seen.outcome and "typed character" in seen.outcome
    assert 'value="typed by a person"' in seen.observation and "The link was pressed" in seen.observation
    assert (await app.get_job(CALLER, session)).status == "running"

    closed = await app.sessions.close(WS, session)
    assert closed.reason.startswith("closed")
    assert (await app.get_job(CALLER, session)).live_url is None


async def test_human_login_signs_an_identity_in_that_a_later_task_uses(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str, person: Page
) -> None:
    add_login_pages(shop, EMAIL, PASSWORD)
    identity = await app.identities.create(WS, spec(mode="persistent"))
    with pytest.raises(Exception, match="human_login needs identity_id"):
        await app.sessions.open(WS, None, SessionRequest(initial_url=shop.url("/login"), human_login=True))
    request = SessionRequest(identity_id=identity.id, initial_url=shop.url("/login"), human_login=True)
    view = await app.sessions.open(WS, None, request)
    assert view.human_login and view.live_url is not None and view.allow_writes
    assert view.observation is None  # the model gets the address, not the page
    session = view.session_id
    with pytest.raises(Forbidden):
        await app.sessions.observe(WS, session)
    with pytest.raises(Forbidden):
        await app.sessions.step(WS, session, "press", {"key": "Enter"})

    # The person signs in through the streamed picture.
    await person.goto(view.live_url)
    await shown_url(person, shop.url("/login"))
    await frame_src(person)
    await person.click("#control")
    await click_through_picture(app, session, person, "input[name=email]")
    await person.keyboard.type(EMAIL)
    await click_through_picture(app, session, person, "input[name=password]")
    await person.keyboard.type(PASSWORD)
    await person.keyboard.press("Enter")
    await shown_url(person, shop.url("/account"))
    await person.click("#control")

    closed = await app.sessions.close(WS, session)
    assert closed.state_saved is True

    # A later task on the identity starts signed in.
    def policy(request: PolicyRequest) -> PolicyReply:
        return tool("done", result=page(request).split("Signed in as ", 1)[-1].split("\n", 1)[0][:80])

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(task="Who is signed in?", llm=claude, initial_url=shop.url("/account"), identity_id=identity.id),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and EMAIL in job.result["final_result"]
    # The password went from the person's keyboard to the site, and nowhere the model or the job record reads.
    assert all(PASSWORD not in r.observation for r in fake.policy_requests)
    timeline = await app.get_job(CALLER, session, events_after=0, events_limit=200)
    assert PASSWORD not in timeline.model_dump_json()
    await app.identities.destroy(WS, identity.id)
