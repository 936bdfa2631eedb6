"""A person watches a running task in the live view, takes control, clicks and types through the streamed
picture, hands back, and the agent's next step sees what they did.

Two real Chromiums: the job's burner (behind the URL guard) and the person's own browser opening the live_url.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskRequest
from mcp_browsa.models import TERMINAL, Job
from tests.agent.support import CALLER, ended, page, page_url, tool, until
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

WAIT = 90.0  # the machine may be busy: the policies' waits are released by the test long before


async def shown_url(person: Page, url: str) -> None:
    await person.wait_for_function("(u) => document.getElementById('url').textContent === u", arg=url)


async def frame_src(person: Page) -> str:
    await person.wait_for_function("() => Number(document.getElementById('screen').dataset.frames || 0) > 0")
    return str(await person.eval_on_selector("#screen", "(img) => img.src"))


async def click_through_picture(app: Browsa, job_id: str, person: Page, selector: str) -> None:
    """Click, in the streamed picture, where `selector` is on the job's page."""
    target = app.live.registry.target(job_id)
    assert target is not None
    burner_page = target.views["main"].tabs.active
    box = await burner_page.locator(selector).bounding_box()
    viewport = burner_page.viewport_size
    assert box is not None and viewport is not None
    picture = await person.locator("#screen").bounding_box()
    assert picture is not None
    fx = (box["x"] + box["width"] / 2) / viewport["width"]
    fy = (box["y"] + box["height"] / 2) / viewport["height"]
    await person.locator("#screen").click(position={"x": fx * picture["width"], "y": fy * picture["height"]})


async def reached(app: Browsa, job_id: str, event: threading.Event, timeout: float = 120) -> None:
    """Wait until the agent's policy set `event`; a job that ended instead fails with its own error."""
    last: list[Job] = []

    async def there() -> bool:
        last[:] = [job := await app.get_job(CALLER, job_id)]
        assert job.status not in TERMINAL, f"the job ended before getting there: {job.error_code} {job.error_message}"
        return event.is_set()

    await wait_until(there, lambda: f"the agent never got there ({last})", timeout=timeout, interval=0.1)


async def test_watch_take_control_type_click_and_hand_back(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str, person: Page
) -> None:
    on_start, watching, on_form, human_done = (threading.Event() for _ in range(4))
    seen: dict[str, Any] = {}

    def policy(request: PolicyRequest) -> PolicyReply:
        url = page_url(request)
        if url.endswith("/live/start.html"):
            on_start.set()
            watching.wait(WAIT)  # the person is watching before the agent moves on
            return tool("navigate", url=shop.url("/live/form.html"))
        if "A person took control" not in request.observation:
            on_form.set()
            human_done.wait(WAIT)  # decided while the person holds the browser: must not run
            return tool("scroll", direction="down")
        seen["observation"] = request.observation
        return tool("done", result="saw what the person did")

    fake.policy = policy
    job = await app.run_task(
        CALLER, TaskRequest(task="Wait for the person", llm=claude, initial_url=shop.url("/live/start.html"))
    )
    await reached(app, job.id, on_start)
    job = await app.get_job(CALLER, job.id)
    assert job.status == "running" and job.live_url is not None
    assert job.live_url.startswith("http://127.0.0.1:") and "/live/" in job.live_url
    token = job.live_url.rsplit("/", 1)[1]
    assert len(token) >= 22  # 128 random bits, URL-safe base64

    # The person opens the live view: frames arrive and the address shown is the job's page.
    refused: list[str] = []  # what the view answered with an error, to explain a failure below
    person.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda f: refused.append(str(f)) if '"error"' in str(f) else None),
    )
    await person.goto(job.live_url)
    await shown_url(person, shop.url("/live/start.html"))
    first = await frame_src(person)
    watching.set()
    # The agent navigates: the address and the picture follow.
    await shown_url(person, shop.url("/live/form.html"))
    await person.wait_for_function("(old) => document.getElementById('screen').src !== old", arg=first)

    await reached(app, job.id, on_form)
    await person.click("#control")
    await person.wait_for_function("() => document.getElementById('control').textContent === 'Hand back'")
    assert (await until(app, job.id, "human_control")).status == "human_control"
    await person.wait_for_function("() => document.getElementById('status').textContent === 'human_control'")

    await click_through_picture(app, job.id, person, "input[name=note]")
    await person.keyboard.type("hello live")
    await click_through_picture(app, job.id, person, "#go")
    # What the person did lands on the page in the order they did it: once the click shows, every key typed
    # before it has. ("Not pressed yet" also contains "pressed": the wait is for the whole sentence.)
    target = app.live.registry.target(job.id)
    assert target is not None
    burner_page = target.views["main"].tabs.active
    await burner_page.wait_for_function("() => document.getElementById('said').textContent === 'The link was pressed'")
    assert await burner_page.input_value("input[name=note]") == "hello live", refused

    human_done.set()  # the model's stale decision arrives while the person still holds the browser
    await person.click("#control")
    await person.wait_for_function("() => document.getElementById('control').textContent === 'Take control'")

    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    observation = seen["observation"]
    assert "A person took control of the browser and handed it back" in observation
    assert "click" in observation and "typed character" in observation
    current = page(fake.policy_requests[-1])
    assert 'value="hello live"' in current and "The link was pressed" in current, refused
    assert refused == []

    timeline = await app.get_job(CALLER, job.id, events_after=0, events_limit=100)
    steps = [e.data for e in timeline.events or [] if e.type == "step"]
    assert steps[1]["action"] == "scroll" and steps[1]["result"].startswith("not run: a person used the browser")
    control = [e.data["held"] for e in timeline.events or [] if e.type == "human.control"]
    assert control == [True, False]

    # The view died with the job: its address is 410 now; a token never issued is 404.
    assert job.live_url is None
    async with httpx.AsyncClient() as client:
        gone = await client.get(f"{job.live_url or ''}" or _url(app, token))
        assert gone.status_code == 410
        unknown = await client.get(_url(app, "A" * 22))
        assert unknown.status_code == 404
    await person.wait_for_function("() => document.getElementById('status').textContent.includes('ended')")


def _url(app: Browsa, token: str) -> str:
    base = app.live._base
    assert base is not None
    return f"{base}/live/{token}"
