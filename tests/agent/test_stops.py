"""How an agent task ends when it does not simply succeed: every hard stop, each with its error code and message.

LOOP, steps running out, giving up, a schema-invalid done (corrected, and not), the success condition,
TIMEOUT, a cancel mid-run, credits, CAPTCHA, BLOCKED navigations and blocked writes, vendor errors.
"""

from __future__ import annotations

import re
import threading

import anyio
import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskRequest
from tests.agent.support import CALLER, FormInbox, ended, index, page, page_url, released, tool, until
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.guard_pages import AUTOPOST, LEAVING_LOGIN, add_guard_pages
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

PRODUCT = "/agent/product.html?id=101"


async def test_the_same_click_on_an_unchanged_page_is_a_loop(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    fake.policy = lambda request: tool("click", index=index(request, "Add to cart"))
    job = await app.run_task(
        CALLER, TaskRequest(task="Add it to the cart", llm=claude, initial_url=shop.url(PRODUCT), max_steps=10)
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "LOOP", job.error_message
    assert job.error_message is not None and "3 times in a row" in job.error_message
    # The first click changed the page; the next two did not: the third repeat is never run.
    assert job.step_count == 4 and fake.calls == 4


async def test_steps_running_out_is_stalled(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    moves = iter(["down", "up"] * 5)
    fake.policy = lambda request: tool("scroll", direction=next(moves))
    job = await app.run_task(
        CALLER, TaskRequest(task="Look around", llm=claude, initial_url=shop.url(PRODUCT), max_steps=3)
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "STALLED"
    assert job.error_message is not None and "steps ran out" in job.error_message and "3 steps" in job.error_message
    assert job.step_count == 3


async def test_a_model_that_gives_up_is_stalled_with_its_reason(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    fake.policy = lambda request: tool("done", result="this shop does not sell bicycles", success=False)
    job = await app.run_task(
        CALLER, TaskRequest(task="Buy a bicycle", llm=gpt, initial_url=shop.url("/agent/search.html"))
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "STALLED"
    assert job.error_message is not None and "gave up" in job.error_message and "bicycles" in job.error_message
    assert job.result is not None and job.result["final_result"] == "this shop does not sell bicycles"


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
    "required": ["name", "price"],
}


async def test_an_invalid_done_goes_back_to_the_model_and_is_fixed(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        if "done() was rejected" in request.observation:
            assert "'price' is a required property" in request.observation
            return tool("done", result="found it", data={"name": "Wireless Earbuds X", "price": 39.99})
        return tool("done", result="found it", data={"name": "Wireless Earbuds X"})

    fake.policy = policy
    job = await app.run_task(
        CALLER, TaskRequest(task="Get name and price", llm=claude, initial_url=shop.url(PRODUCT), output=SCHEMA)
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    assert steps[0]["result"].startswith("done rejected: the data does not match the OUTPUT schema")


async def test_a_done_that_never_fits_the_schema_fails_after_bounded_retries(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    fake.policy = lambda request: tool("done", result="no idea", data={"price": "cheap"})
    job = await app.run_task(
        CALLER, TaskRequest(task="Get name and price", llm=gpt, initial_url=shop.url(PRODUCT), output=SCHEMA)
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "LLM_ERROR"
    assert job.error_message is not None and "rejected 3 times" in job.error_message
    assert fake.calls == 3


async def test_the_success_condition_is_checked_against_the_final_page(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    verdicts: list[str] = []

    def policy(request: PolicyRequest) -> PolicyReply:
        if request.tools == ["verdict"]:  # the separate check: condition, result and final page only
            assert "SUCCESS CONDITION:\nthe page says the item was added" in request.observation
            met = "Added Wireless Earbuds X to the cart" in request.observation
            verdicts.append(str(met))
            return tool("verdict", met=met, reason="the page says so" if met else "no confirmation on the page")
        if "Added Wireless" in page(request):
            return tool("done", result="added")
        if "success condition is not met" in request.observation:
            return tool("click", index=index(request, "Add to cart"))
        return tool("done", result="added (I think)")

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Add the earbuds to the cart",
            llm=claude,
            initial_url=shop.url(PRODUCT),
            success_condition="the page says the item was added",
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert verdicts == ["False", "True"] and job.step_count == 3
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    assert steps[0]["verdict"] == {"met": False, "reason": "no confirmation on the page"}
    assert steps[-1]["verdict"]["met"] is True
    # Three decisions and two checks; each check's tokens count in the step that asked for it.
    assert fake.calls == 5
    checks = [r for r in fake.policy_requests if r.tools == ["verdict"]]
    assert steps[0]["tokens"]["input"] > len(fake.policy_requests[0].observation) // 4
    assert len(checks) == 2 and "FINAL PAGE:\nURL:" in checks[0].observation


async def test_cancel_mid_run_stops_between_steps_and_bills_only_steps_taken(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    in_step_two = threading.Event()
    with released(threading.Event()) as go_on:

        def policy(request: PolicyRequest) -> PolicyReply:
            if "STEPS SO FAR (1" in request.observation:
                in_step_two.set()
                go_on.wait(20)
            return tool("scroll", direction="down" if fake.calls % 2 else "up")

        fake.policy = policy
        job = await app.run_task(
            CALLER, TaskRequest(task="Browse forever", llm=claude, initial_url=shop.url("/agent/long.html"))
        )
        # The fake vendor answers from its own thread: wait for its event there, without polling.
        assert await anyio.to_thread.run_sync(in_step_two.wait, 20), "the task never reached step two"
        cancelling = await app.cancel_job(CALLER, job.id)
        assert cancelling.status == "running"
        go_on.set()
        job = await ended(app, job.id)
    assert job.status == "cancelled", job.error_message
    assert job.step_count == 2 and job.credits_charged == 3  # one burner, two steps; nothing after the cancel
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    assert steps[-1]["result"] == "not run: the task was cancelled"


async def test_the_wallclock_timeout(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    with released(threading.Event()) as never:

        def policy(request: PolicyRequest) -> PolicyReply:
            never.wait(5)
            return tool("scroll", direction="down")

        fake.policy = policy
        req = TaskRequest(task="Wait for nothing", llm=claude, initial_url=shop.url(PRODUCT), max_steps=5)
        params, key = await app.tasks.task_params(CALLER.workspace_id, req, local=True)
        # Below what a caller may ask for, to keep the test short: stored bounds are not checked again when run.
        params = params.model_copy(update={"timeout_seconds": 1.5})
        job = await app.tasks.submit(CALLER.workspace_id, None, "task", params, key, progress_total=5)
        job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "TIMEOUT", job.error_message
    assert job.error_message is not None and "1.5 s" in job.error_message


async def test_max_credits_stops_the_task(app: Browsa, fake: FakeLLM, shop: Site, gpt: str) -> None:
    moves = iter(["down", "up"] * 10)
    fake.policy = lambda request: tool("scroll", direction=next(moves))
    job = await app.run_task(
        CALLER, TaskRequest(task="Scroll", llm=gpt, initial_url=shop.url("/agent/long.html"), max_credits=3)
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "INSUFFICIENT_CREDIT"
    assert job.error_message is not None and "max_credits (3) reached" in job.error_message
    assert job.credits_charged == 3 and job.step_count == 2


async def test_a_wrong_key_is_invalid_api_key_and_the_key_is_never_stored(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    fake.valid_keys = {"sk-ant-right"}
    secret_key = "sk-ant-WRONG-0123456789abcdef"
    job = await app.run_task(
        CALLER, TaskRequest(task="Anything", llm=claude, llm_api_key=secret_key, initial_url=shop.url(PRODUCT))
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "INVALID_API_KEY", job.error_message
    assert job.error_message is not None and secret_key not in job.error_message
    sent = fake.requests[-1]["headers"]
    assert secret_key in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
    assert job.id not in app.tasks.keys  # forgotten with the job
    for path in app.settings.home.glob("browsa.db*"):
        assert secret_key.encode() not in path.read_bytes(), path


async def test_a_rate_limit_that_persists_after_backoff(app: Browsa, fake: FakeLLM, shop: Site, gpt: str) -> None:
    fake.fail_next(429, times=10)
    job = await app.run_task(CALLER, TaskRequest(task="Anything", llm=gpt, initial_url=shop.url(PRODUCT)))
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "RATE_LIMIT"
    assert job.error_message is not None and "Rate limit reached" in job.error_message
    assert len([r for r in fake.requests if r["provider"] == "openai"]) == 3  # the call and two retries


async def test_other_vendor_errors_are_llm_error_with_the_vendors_message(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    fake.fail_next(400, message="max_tokens: too large for this model")
    job = await app.run_task(CALLER, TaskRequest(task="Anything", llm=claude, initial_url=shop.url(PRODUCT)))
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "LLM_ERROR"
    assert job.error_message is not None and "max_tokens: too large for this model" in job.error_message


async def test_a_captcha_ends_the_task_when_no_human_is_waiting(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Get into the shop",
            llm=claude,
            initial_url=shop.url("/agent/captcha.html"),
            allowed_domains=["127.0.0.1"],
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "CAPTCHA"
    assert job.error_message is not None and "reCAPTCHA widget" in job.error_message
    assert fake.calls == 0 and job.step_count == 0  # no model call is paid for a page nobody can pass


async def test_a_captcha_offers_ask_human_first_when_a_human_is_waiting(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        if "A CAPTCHA (reCAPTCHA widget) is on this page" in request.observation:
            return tool("ask_human", question="Please solve the CAPTCHA in the browser window")
        assert "captcha" not in page_url(request)
        return tool("navigate", url=shop.url("/agent/captcha.html"))

    fake.policy = policy
    job = await app.run_task(CALLER, TaskRequest(task="Get in", llm=claude, initial_url=shop.url(PRODUCT)))
    with app.tasks.human_waiting(job.id):
        asked = await until(app, job.id, "input_required")
        assert asked.question is not None and asked.question.startswith(
            "Please solve the CAPTCHA in the browser window"
        )
        assert asked.live_url is not None and asked.live_url in asked.question  # where to solve it
        await app.respond_to_job(CALLER, job.id, "I could not")
        job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "CAPTCHA", job.error_message
    assert fake.calls == 2


async def test_a_navigation_outside_allowed_domains_ends_the_task_blocked(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    fake.policy = lambda request: tool("click", index=index(request, "Partner shop"))
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Visit the partner",
            llm=gpt,
            initial_url=shop.url("/agent/outlinks.html"),
            allowed_domains=["127.0.0.1"],
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "BLOCKED"
    assert job.error_message is not None and "(allowed_domains)" in job.error_message
    assert job.error_message.startswith(f"http://localhost:{shop.port}/agent/cart.html")
    assert job.result is not None and job.result["blocked"]["rule"] == "allowed_domains"


async def test_a_navigation_to_a_private_address_ends_the_task_blocked(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    fake.policy = lambda request: tool("navigate", url="http://169.254.169.254/latest/meta-data/")
    job = await app.run_task(CALLER, TaskRequest(task="Read the metadata", llm=claude, initial_url=shop.url(PRODUCT)))
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "BLOCKED"
    assert job.error_message is not None and "ssrf:" in job.error_message


async def test_a_blocked_write_is_told_to_the_model_and_recorded(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str, inbox: FormInbox
) -> None:
    sent_before = len(inbox.posts)

    def policy(request: PolicyRequest) -> PolicyReply:
        if "allow_writes=false" in request.observation:
            return tool("done", result="the form cannot be sent in read-only mode", success=False)
        if "value=" not in next(ln for ln in page(request).splitlines() if "name=name" in ln):
            return tool("type", index=index(request, "name=name"), text="Ada")
        return tool("click", index=index(request, re.compile(r"<button[^>]*> Send$")))

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(task="Send the form", llm=claude, initial_url=shop.url("/agent/form.html"), allow_writes=False),
    )
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "STALLED", job.error_message
    assert len(inbox.posts) == sent_before
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    blocked = steps[1]["blocked_writes"][0]
    assert blocked["rule"] == "writes" and blocked["method"] == "POST" and "/agent/submit" in blocked["url"]


async def test_a_navigation_the_egress_proxy_refuses_ends_the_task_blocked(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    # A name, not an address: only the proxy, resolving it, sees that it points at a loopback port not exempted.
    fake.policy = lambda request: tool("navigate", url="http://localhost:8899/admin")
    job = await app.run_task(CALLER, TaskRequest(task="Open the admin page", llm=gpt, initial_url=shop.url(PRODUCT)))
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "BLOCKED", job.error_message
    assert job.result is not None and job.result["blocked"]["rule"].startswith("ssrf")
    assert job.error_message is not None and "localhost:8899" in job.error_message


async def test_a_page_submitting_its_own_form_under_read_only_is_told_not_a_crash(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    add_guard_pages(shop)

    def policy(request: PolicyRequest) -> PolicyReply:
        if "allow_writes=false" in request.observation:
            return tool("done", result="the page tried to post; nothing was sent")
        return tool("wait", seconds=0.5)

    fake.policy = policy
    shop.requests.clear()
    job = await app.run_task(
        CALLER,
        TaskRequest(task="Read the page", llm=claude, initial_url=shop.url(AUTOPOST + "?form=1"), allow_writes=False),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", (job.error_code, job.error_message)
    assert [r for r in shop.requests if r[0] == "POST"] == []
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    assert "POST" in {b["method"] for b in steps[0]["blocked_writes"]}


async def test_a_page_sending_itself_to_a_private_address_ends_the_task_blocked(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str
) -> None:
    add_guard_pages(shop)
    fake.policy = lambda request: tool("wait", seconds=0.5)
    target = f"http://127.0.0.2:{shop.port}/admin"
    url = shop.url(f"{LEAVING_LOGIN}?to={target}")
    job = await app.run_task(CALLER, TaskRequest(task="Sign in", llm=gpt, initial_url=url, max_steps=5))
    job = await ended(app, job.id)
    assert job.status == "failed" and job.error_code == "BLOCKED", (job.error_code, job.error_message)
    assert job.result is not None and job.result["blocked"]["rule"] == "ssrf:loopback"
