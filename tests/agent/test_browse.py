"""The agent loop on real pages, through both vendors' real SDKs: search and extract, forms, pagination,
selects, iframes and shadow roots, new tabs.

Each fake model reads the observation the loop sent and picks elements by what it shows.
"""

from __future__ import annotations

import re

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import TaskRequest
from tests.agent.support import CALLER, FormInbox, ended, index, page, page_url, tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.sites import Site

pytestmark = pytest.mark.anyio

PRODUCT = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
    "required": ["name", "price"],
    "additionalProperties": False,
}


def line(request: PolicyRequest, pattern: str) -> str:
    return next(ln for ln in page(request).splitlines() if ln.startswith("[") and pattern in ln)


def title(request: PolicyRequest) -> str:
    found = re.search(r"^TITLE: (.+)$", page(request), re.MULTILINE)
    assert found is not None
    return found.group(1)


async def test_search_open_a_result_and_extract_into_the_output_schema(
    app: Browsa, fake: FakeLLM, shop: Site, claude: str
) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        url = page_url(request)
        if url.endswith("/agent/search.html"):
            return tool("type", index=index(request, "name=q"), text="earbuds", submit=True)
        if "/agent/results.html" in url:
            return tool("click", index=index(request, "Wireless Earbuds X"))
        found = re.search(r"Price: \$([\d.]+)", page(request))
        assert found is not None and "/agent/product.html" in url
        name, price = title(request), float(found.group(1))
        return tool("done", result=f"{name} costs ${price}", data={"name": name, "price": price})

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Find the price of the Wireless Earbuds X",
            llm=claude,
            initial_url=shop.url("/agent/search.html"),
            output=PRODUCT,
        ),
    )
    assert job.status in ("queued", "running") and job.progress_total == 20  # a free worker may claim it at once
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None
    assert job.result["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert job.result["final_result"] == "Wireless Earbuds X costs $39.99"
    assert job.step_count == 3 and job.progress_done == 3

    timeline = await app.get_job(CALLER, job.id, events_after=0, events_limit=200)
    steps = [e.data for e in timeline.events or [] if e.type == "step"]
    assert [s["action"] for s in steps] == ["type", "click", "done"]
    assert steps[1]["result"].startswith("clicked [") and "/agent/product.html?id=101" in steps[1]["result"]
    for s in steps:
        assert s["url"].startswith(shop.base) and 0 < s["observation_chars"] <= 6000
        assert s["tokens"]["input"] > 0 and s["usd"] > 0 and "llm_ms" in s

    # One small message per call: the latest page in full, earlier steps as one line each.
    for request in fake.policy_requests:
        assert [m.role for m in request.messages] == ["user"] and len(request.observation) < 9000
    last = fake.policy_requests[-1].observation
    assert "1. type" in last and "2. click" in last and "Wireless Earbuds X" in last
    first = fake.policy_requests[0]
    assert first.provider == "anthropic" and first.tool_choice == "required"
    assert {"navigate", "click", "type", "select", "read_page", "ask_human", "done"} <= set(first.tools)
    done_tool = next(t for t in first.body["tools"] if t["name"] == "done")
    assert done_tool["input_schema"]["properties"]["data"] == PRODUCT

    # One burner and three steps, each a ledger row carrying its USD; tokens on the job.
    assert job.credits_charged == 4
    assert job.input_tokens > 0 and job.output_tokens > 0 and job.cost_usd > 0
    ledger = [e for e in (await app.credits(CALLER, limit=50)).ledger if e.job_id == job.id]
    assert sorted(e.amount for e in ledger) == [-1, -1, -1, -1]
    assert round(sum(e.usd for e in ledger), 6) == round(job.cost_usd, 6)
    # final_only: one screenshot, listed as a resource.
    assert job.screenshots == [f"browsa://jobs/{job.id}/screenshots/1"]
    assert job.live_url is None  # cleared when the job ends


async def test_fill_and_submit_a_form_with_a_select_and_a_checkbox(
    app: Browsa, fake: FakeLLM, shop: Site, gpt: str, inbox: FormInbox
) -> None:
    values = {"name": "Ada Lovelace", "email": "ada@example.com", "country": "France", "message": "Hello, agent"}

    def policy(request: PolicyRequest) -> PolicyReply:
        if "/agent/submit" in page_url(request):
            thanks = re.search(r"Thanks, [^:]+", page(request))
            assert thanks is not None
            return tool("done", result=thanks.group(0))
        if "value=" not in line(request, "name=name"):
            return tool("type", index=index(request, "name=name"), text=values["name"])
        if "value=" not in line(request, "name=email"):
            return tool("type", index=index(request, "name=email"), text=values["email"])
        if 'selected="France"' not in line(request, "<select name=country"):
            return tool("select", index=index(request, "<select name=country"), option=values["country"])
        if "checked" not in line(request, "name=newsletter"):
            return tool("click", index=index(request, "name=newsletter"))
        if "value=" not in line(request, "<textarea"):
            return tool("type", index=index(request, "<textarea"), text=values["message"])
        return tool("click", index=index(request, re.compile(r"<button[^>]*> Send$")))

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Send the contact form with my details; subscribe me to the newsletter.",
            llm=gpt,
            initial_url=shop.url("/agent/form.html"),
            input=values,
            screenshots={"mode": "every_step"},
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["final_result"] == "Thanks, Ada Lovelace"
    assert job.step_count == 7
    sent = inbox.posts[-1]
    assert sent["name"] == "Ada Lovelace" and sent["email"] == "ada@example.com"
    assert sent["country"] == "fr" and sent["newsletter"] == "yes" and sent["message"] == "Hello, agent"
    first = fake.policy_requests[0]
    assert first.provider == "openai" and '"email": "ada@example.com"' in first.observation  # the INPUT values
    # every_step: one screenshot per step, plus the first page.
    assert job.screenshots is not None and len(job.screenshots) == 8


async def test_pagination_collects_every_page(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    seen: list[str] = []

    def policy(request: PolicyRequest) -> PolicyReply:
        for order in re.findall(r"Order #\d+", page(request)):
            if order not in seen:
                seen.append(order)
        if "Next »" in page(request):
            return tool("click", index=index(request, "Next »"))
        return tool("done", result=f"{len(seen)} orders", data={"orders": seen})

    fake.policy = policy
    schema = {"type": "object", "properties": {"orders": {"type": "array", "items": {"type": "string"}}}}
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="List every order on all pages", llm=claude, initial_url=shop.url("/agent/list.html"), output=schema
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["data"]["orders"] == [f"Order #{n}" for n in range(1, 16)]
    assert job.result["final_url"].endswith("/agent/list.html?page=3") and job.step_count == 3


async def test_elements_inside_iframes_and_a_shadow_root(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        text = page(request)
        if "same-origin frame button clicked" not in text:
            return tool("click", index=index(request, "Frame button (same-origin)"))
        if "cross-origin frame button clicked" not in text:
            return tool("click", index=index(request, "Frame button (cross-origin)"))
        if "shadow button clicked" not in text:
            return tool("click", index=index(request, "Shadow button"))
        return tool("done", result="all three clicked")

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(task="Press every button on the page", llm=claude, initial_url=shop.url("/agent/frames.html")),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.step_count == 4


async def test_a_link_that_opens_a_new_tab(app: Browsa, fake: FakeLLM, shop: Site, gpt: str) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        if page_url(request).endswith("/agent/newtab.html"):
            return tool("click", index=index(request, "Earbuds Pro in a new tab"))
        assert "TABS: 2 (active 1)" in page(request)
        found = re.search(r"Price: \$([\d.]+)", page(request))
        assert found is not None
        return tool("done", result=found.group(1))

    fake.policy = policy
    job = await app.run_task(
        CALLER, TaskRequest(task="How much are the Earbuds Pro?", llm=gpt, initial_url=shop.url("/agent/newtab.html"))
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["final_result"] == "89.00"
    steps = [e.data for e in (await app.get_job(CALLER, job.id, events_after=0)).events or [] if e.type == "step"]
    assert "new tab 1 opened" in steps[0]["result"] and steps[0]["navigated"] is True


async def test_a_select_that_reorders_the_page(app: Browsa, fake: FakeLLM, shop: Site, claude: str) -> None:
    def policy(request: PolicyRequest) -> PolicyReply:
        sort = line(request, "<select name=sort")
        if 'selected="Price: low to high"' not in sort:
            return tool("select", index=index(request, "<select name=sort"), option="price: low to high")
        cheapest = line(request, "href=/agent/product.html")
        return tool("done", result=cheapest.split("> ", 1)[1])

    fake.policy = policy
    job = await app.run_task(
        CALLER,
        TaskRequest(
            task="Which earbuds are cheapest?", llm=claude, initial_url=shop.url("/agent/results.html?q=earbuds")
        ),
    )
    job = await ended(app, job.id)
    assert job.status == "completed", job.error_message
    assert job.result is not None and job.result["final_result"] == "Wired Earbuds Basic — $9.50"
