"""Agent work on the host's own model through MCP sampling, with no API key anywhere in the server's environment.

A real MCP client answers the server's `sampling/createMessage` requests with the fake vendor's policy (the same
one that reads observations in the vendor tests): over stdio as a handshake-era client (back-channel requests)
and as a 2026-07-28 client (input-required round trips), over HTTP up to the client going away mid-task.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.agent.support import index, page, page_url, tool
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.fake_sampling import CLIENT_MODEL, SAMPLING_WITH_TOOLS, sampling_callback, sampling_client
from tests.support.mcp_server import envelope, finished, ok, short_home, spawn_http, stdio_client
from tests.support.sites import Site
from tests.support.waits import wait_until

pytestmark = pytest.mark.anyio

PRODUCT = {"type": "object", "properties": {"name": {"type": "string"}, "price": {"type": "number"}}}
NO_KEYS = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "ANTHROPIC_BASE_URL": "", "OPENAI_BASE_URL": ""}


def shopping(request: PolicyRequest) -> PolicyReply:
    """Search for earbuds, open the first hit, report its name and price."""
    url = page_url(request)
    if url.endswith("/agent/search.html"):
        return tool("type", index=index(request, "name=q"), text="earbuds", submit=True)
    if "/agent/results.html" in url:
        hits = re.findall(r"^\[\d+\] <a href=/agent/product\.html[^>]*> (.+)$", page(request), re.MULTILINE)
        # The list is drawn by a script: on a loaded machine the first look can come before it.
        return tool("click", index=index(request, hits[0])) if hits else tool("wait", seconds=1)
    title = re.search(r"^TITLE: (.+)$", page(request), re.MULTILINE)
    price = re.search(r"Price: \$([\d.]+)", page(request))
    assert title is not None and price is not None
    return tool("done", result=title.group(1), data={"name": title.group(1), "price": float(price.group(1))})


def env(shop: Site) -> dict[str, str]:
    return {**NO_KEYS, "BROWSA_ALLOW_PRIVATE_NETWORK": f"127.0.0.1:{shop.port}"}


# One stdio server per kind of client, shared by the module's tests of that kind: a stdio server serves one client
# for its life, and none of these tests reads state another leaves (each resets the vendor, counts only its own
# jobs and closes its sessions), so a server spawned for each test only added its start-up and shut-down.
@pytest.fixture(scope="module")
async def handshake_era(shop: Site, vendor: FakeLLM) -> AsyncIterator[Client]:
    """A handshake-era client that answers sampling over its back channel."""
    with short_home() as home:
        async with stdio_client(home, options=sampling_client(vendor), **env(shop)) as client:
            yield client


@pytest.fixture(scope="module")
async def modern(shop: Site, vendor: FakeLLM) -> AsyncIterator[Client]:
    """A 2026-07-28 client that answers sampling through input-required round trips."""
    with short_home() as home:
        async with stdio_client(home, options=sampling_client(vendor, legacy=False), **env(shop)) as client:
            assert client.protocol_version == "2026-07-28"
            yield client


@pytest.fixture(scope="module")
async def no_model(shop: Site) -> AsyncIterator[Client]:
    """A client without sampling, on a server without any key."""
    with short_home() as home:
        async with stdio_client(home, options={"mode": "legacy"}, **env(shop)) as client:
            yield client


@pytest.fixture(scope="module")
async def keyed(shop: Site, vendor: FakeLLM) -> AsyncIterator[Client]:
    """A client without sampling, on a server holding a vendor key of its own."""
    env_with_key = {**env(shop), **vendor.env(), "BROWSA_LLM_API_KEY": "sk-ant-test-extract"}
    with short_home() as home:
        async with stdio_client(home, options={"mode": "legacy"}, **env_with_key) as client:
            yield client


def task_args(shop: Site, **more: Any) -> dict[str, Any]:
    return {
        "task": "Find the earbuds and their price",
        "initial_url": shop.url("/agent/search.html"),
        "output": PRODUCT,
        "wait": 60,
        **more,
    }


def assert_bought(job: dict[str, Any], vendor: FakeLLM) -> None:
    assert job["status"] == "completed", (job.get("error_code"), job.get("error_message"))
    assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert job["step_count"] >= 3 and vendor.calls == job["step_count"]
    assert job["input_tokens"] > 0 and job["output_tokens"] == 20 * vendor.calls  # as the client reported them
    assert job["cost_usd"] == 0
    request = vendor.policy_requests[0]
    assert request.provider == "mcp" and request.tool_choice == "required"
    assert {"click", "type", "done", "ask_human"} <= set(request.tools)  # the agent's own tools and prompt
    assert "TASK:" in request.observation and request.system


async def test_a_handshake_era_client_serves_a_multi_step_task_over_its_back_channel(
    handshake_era: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(shopping)
    client = handshake_era
    job = ok(await client.call_tool("run_task", task_args(shop)))  # no llm, no key: the client's model
    assert_bought(job, vendor)
    [step] = [e for e in (await events(client, job["id"])) if e["type"] == "step"][:1]
    assert step["data"]["model"] == CLIENT_MODEL


async def events(client: Client, job_id: str) -> list[dict[str, Any]]:
    return list(ok(await client.call_tool("get_job", {"job_id": job_id, "wait": 0, "events_after": 0}))["events"])


async def test_a_2026_client_serves_the_task_through_input_required_round_trips(
    modern: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(shopping)
    job = ok(await modern.call_tool("run_task", task_args(shop, llm="client")))
    assert_bought(job, vendor)

    # Started without waiting, the job advances while get_job waits on it.
    vendor.reset(shopping)
    started = ok(await modern.call_tool("run_task", task_args(shop, wait=0)))
    assert started["status"] in ("queued", "running")
    assert_bought(await finished(modern, started["id"]), vendor)


async def test_a_client_without_sampling_gets_the_no_api_key_error(no_model: Client, shop: Site) -> None:
    before = ok(await no_model.call_tool("list_jobs", {}))["count"]
    refused = envelope(await no_model.call_tool("run_task", task_args(shop)))
    assert refused["code"] == "BAD_REQUEST"
    assert "no API key for anthropic" in refused["error"]
    asked = envelope(await no_model.call_tool("run_task", task_args(shop, llm="client")))
    assert asked["code"] == "BAD_REQUEST" and "sampling.tools" in asked["error"]
    listed = ok(await no_model.call_tool("list_jobs", {}))
    assert listed["count"] == before  # refused before any job


async def test_a_client_that_disconnects_mid_task_ends_the_job_llm_error(
    home: Path, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(shopping)
    second_call = anyio.Event()

    async def hold_the_second(n: int) -> None:
        if n == 2:
            second_call.set()
            await anyio.sleep_forever()  # the client leaves with this call unanswered

    callback = sampling_callback(vendor, before=hold_the_second)
    with spawn_http(home, "--no-auth", **env(shop)) as http:
        async with Client(
            http.url,
            mode="legacy",
            read_timeout_seconds=60,
            sampling_callback=callback,
            sampling_capabilities=SAMPLING_WITH_TOOLS,
        ) as client:
            job = ok(await client.call_tool("run_task", task_args(shop, wait=0)))
            with anyio.fail_after(60):
                await second_call.wait()  # one step done over HTTP, the next model call in flight
        async with Client(http.url, mode="legacy", read_timeout_seconds=60) as other:
            ended = await finished(other, job["id"], timeout=60)
    assert ended["status"] == "failed" and ended["error_code"] == "LLM_ERROR"
    assert "MCP client session that started this job" in ended["error_message"]
    assert "gone" in ended["error_message"]
    assert ended["step_count"] >= 1


def extracting(request: PolicyRequest) -> PolicyReply:
    """Read name and price off the page; the first answer gives the price as text, which the schema refuses."""
    text = request.messages[0].content
    assert request.tools == ["answer"] and text.startswith(("SCHEMA:", "REQUEST:"))
    name = re.search(r"^# (.+)$", text, re.MULTILINE)
    price = re.search(r"Price: \$([\d.]+)", text)
    assert name is not None and price is not None
    if text.startswith("REQUEST:"):
        return tool("answer", answer=f"{name.group(1)} costs ${price.group(1)}")
    fixing = request.last_tool_result
    value: Any = float(price.group(1)) if fixing else price.group(1)
    return tool("answer", data={"name": name.group(1), "price": value})


async def test_extract_reads_schema_data_on_the_clients_model_with_a_re_ask(
    handshake_era: Client, shop: Site, vendor: FakeLLM
) -> None:
    url = shop.url("/agent/product.html?id=101")
    vendor.reset(extracting)
    result = await handshake_era.call_tool("extract", {"url": url, "schema": PRODUCT})
    job = ok(result)
    assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert vendor.calls == 2  # the first answer did not match the schema
    fix = vendor.policy_requests[1].last_tool_result or ""
    assert "does not match the schema" in fix and "data['price']" in fix
    assert job["credits_charged"] >= 2 and job["input_tokens"] > 0
    assert result.content[0].text.split("\n")[1] == '{"name":"Wireless Earbuds X","price":39.99}'  # type: ignore[union-attr]


async def test_extract_answers_a_prompt_through_a_2026_clients_round_trip(
    modern: Client, shop: Site, vendor: FakeLLM
) -> None:
    url = shop.url("/agent/product.html?id=101")
    vendor.reset(extracting)
    job = ok(await modern.call_tool("extract", {"url": url, "prompt": "What does it cost?"}))
    assert job["result"]["data"] == "Wireless Earbuds X costs $39.99"
    assert vendor.calls == 1


async def test_extract_without_any_model_returns_the_page_beside_the_schema(no_model: Client, shop: Site) -> None:
    url = shop.url("/agent/product.html?id=101")
    job = ok(await no_model.call_tool("extract", {"url": url, "schema": PRODUCT}))
    assert "data" not in job["result"] and job["result"]["schema"] == PRODUCT
    assert "Price: $39.99" in job["result"]["content"]


async def test_extract_with_the_servers_key_uses_the_vendor_model(keyed: Client, shop: Site, vendor: FakeLLM) -> None:
    url = shop.url("/agent/product.html?id=101")
    vendor.reset(extracting)
    job = ok(await keyed.call_tool("extract", {"url": url, "schema": PRODUCT}))
    assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert [r.provider for r in vendor.policy_requests] == ["anthropic", "anthropic"]
    assert job["cost_usd"] > 0


def instructed(request: PolicyRequest) -> PolicyReply:
    """act/observe instructions on the shop: the same page reading the agent's policies do."""
    said = request.messages[0].content.split("INSTRUCTION:\n", 1)[1].split("\n", 1)[0]
    if said == "search for earbuds":
        assert request.tools and "click" in request.tools and "done" not in request.tools
        return tool("type", index=index(request, "name=q"), text="earbuds", submit=True)
    products = re.findall(r"^\[(\d+)\] <a href=/agent/product\.html", page(request), re.MULTILINE)
    if said == "the product links":
        assert request.tools == ["matches"]
        return tool("matches", indices=[int(n) for n in products] + [999])  # 999: not on the page
    assert said == "open the first product"
    return tool("click", index=int(products[0]))


async def products_listed(client: Client, session: str) -> None:
    """Wait until the results page's script has drawn its product links (observing is what the host would do)."""

    async def drawn() -> bool:
        return "/agent/product.html" in ok(await client.call_tool("observe", {"session_id": session}))["observation"]

    await wait_until(drawn, "the product links in the observation", interval=0.2)


async def searched_by_instruction(client: Client, shop: Site) -> str:
    """A session on the shop's search page, told in words to search for earbuds, once the results are drawn."""
    opened = ok(await client.call_tool("open_session", {"initial_url": shop.url("/agent/search.html")}))
    session = str(opened["session_id"])
    typed = ok(await client.call_tool("act", {"session_id": session, "instruction": "search for earbuds"}))
    assert typed["outcome"].startswith('resolved to type {"index": ')
    assert "/agent/results.html" in typed["url"]
    await products_listed(client, session)
    return session


async def test_act_and_observe_take_instructions_on_the_clients_model(
    handshake_era: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(instructed)
    client = handshake_era
    session = await searched_by_instruction(client, shop)

    seen = await client.call_tool("observe", {"session_id": session, "instruction": "the product links"})
    lines = ok(seen)["observation"].splitlines()
    elements = [line for line in lines if line.startswith("[")]
    assert elements and all("/agent/product.html" in line for line in elements)
    assert not any(line.startswith("TEXT:") for line in lines)  # only the matching elements
    assert seen.content[0].text.startswith(f"{len(elements)} element(s) match")  # type: ignore[union-attr]

    opened_product = ok(await client.call_tool("act", {"session_id": session, "instruction": "open the first product"}))
    assert opened_product["outcome"].startswith("resolved to click")
    assert "/agent/product.html" in opened_product["url"]
    assert vendor.calls == 3
    both = envelope(await client.call_tool("act", {"session_id": session, "action": "scroll", "instruction": "x"}))
    assert both["code"] == "BAD_REQUEST"
    await client.call_tool("close_session", {"session_id": session})


async def test_an_instruction_without_any_model_is_refused_clearly(no_model: Client, shop: Site) -> None:
    client = no_model
    opened = ok(await client.call_tool("open_session", {"initial_url": shop.url("/agent/search.html")}))
    refused = envelope(await client.call_tool("act", {"session_id": opened["session_id"], "instruction": "search"}))
    assert refused["code"] == "BAD_REQUEST" and "needs a model" in refused["error"]
    await client.call_tool("close_session", {"session_id": opened["session_id"]})


async def test_a_2026_client_answers_an_instruction_through_a_round_trip(
    modern: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(instructed)
    client = modern
    session = await searched_by_instruction(client, shop)
    seen = ok(await client.call_tool("observe", {"session_id": session, "instruction": "the product links"}))
    assert [line for line in seen["observation"].splitlines() if line.startswith("[")]
    assert vendor.calls == 2
    await client.call_tool("close_session", {"session_id": session})


async def session_on(client: Client, url: str) -> str:
    return str(ok(await client.call_tool("open_session", {"initial_url": url}))["session_id"])


async def session_job(client: Client, session: str) -> dict[str, Any]:
    return dict(ok(await client.call_tool("get_job", {"job_id": session, "wait": 0})))


def typed_events(job_events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in job_events if e["type"] == kind]


async def test_extract_on_a_session_reads_schema_data_with_the_same_re_asks(
    handshake_era: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(extracting)
    client = handshake_era
    session = await session_on(client, shop.url("/agent/product.html?id=101"))
    before = (await session_job(client, session))["credits_charged"]
    result = await client.call_tool("extract", {"session_id": session, "schema": PRODUCT})
    job = ok(result)
    assert job["id"] == session and job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert vendor.calls == 2  # the first answer gave the price as text, which the schema refused
    fix = vendor.policy_requests[1].last_tool_result or ""
    assert "does not match the schema" in fix and "data['price']" in fix
    assert result.content[0].text.split("\n")[1] == '{"name":"Wireless Earbuds X","price":39.99}'  # type: ignore[union-attr]
    after = await session_job(client, session)
    assert after["credits_charged"] == before + 2 and after["input_tokens"] > 0
    calls = typed_events(await events(client, session), "extract.model")
    assert [e["data"]["call"] for e in calls] == [1, 2] and calls[0]["data"]["model"] == CLIENT_MODEL
    await client.call_tool("close_session", {"session_id": session})


async def test_extract_on_a_session_with_the_servers_key_or_a_2026_round_trip_or_no_model(
    keyed: Client, modern: Client, no_model: Client, shop: Site, vendor: FakeLLM
) -> None:
    product = shop.url("/agent/product.html?id=101")
    vendor.reset(extracting)
    client = keyed
    session = await session_on(client, product)
    job = ok(await client.call_tool("extract", {"session_id": session, "schema": PRODUCT}))
    assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
    assert [r.provider for r in vendor.policy_requests] == ["anthropic", "anthropic"]
    assert (await session_job(client, session))["cost_usd"] > 0
    await client.call_tool("close_session", {"session_id": session})

    vendor.reset(extracting)
    client = modern
    session = await session_on(client, product)
    job = ok(await client.call_tool("extract", {"session_id": session, "prompt": "What does it cost?"}))
    assert job["result"]["data"] == "Wireless Earbuds X costs $39.99" and vendor.calls == 1
    await client.call_tool("close_session", {"session_id": session})

    client = no_model
    session = await session_on(client, product)
    job = ok(await client.call_tool("extract", {"session_id": session, "schema": PRODUCT}))
    assert "data" not in job["result"] and job["result"]["schema"] == PRODUCT
    assert "Price: $39.99" in job["result"]["content"]
    await client.call_tool("close_session", {"session_id": session})


async def test_instructions_are_charged_on_the_session_job_and_replayed_by_idempotency_key(
    handshake_era: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(instructed)
    client = handshake_era
    session = await session_on(client, shop.url("/agent/search.html"))
    start = (await session_job(client, session))["credits_charged"]
    args = {"session_id": session, "instruction": "search for earbuds", "idempotency_key": "search-1"}
    typed = ok(await client.call_tool("act", args))
    assert typed["outcome"].startswith("resolved to type") and not typed.get("idempotent_replay")
    await products_listed(client, session)
    ok(await client.call_tool("observe", {"session_id": session, "instruction": "the product links"}))
    timeline = await events(client, session)
    steps = len(typed_events(timeline, "step"))
    job = await session_job(client, session)
    assert job["credits_charged"] >= start + 2 and job["input_tokens"] > 0
    [acted] = typed_events(timeline, "act.model")
    [looked] = typed_events(timeline, "observe.model")
    assert acted["data"]["instruction"] == "search for earbuds" and acted["data"]["model"] == CLIENT_MODEL
    assert looked["data"]["instruction"] == "the product links"
    assert vendor.calls == 2

    again = ok(await client.call_tool("act", args))  # the same key: the first result, nothing done again
    assert again["idempotent_replay"] is True and again["outcome"] == typed["outcome"]
    assert vendor.calls == 2
    later = await events(client, session)
    assert len(typed_events(later, "step")) == steps and len(typed_events(later, "act.model")) == 1
    other = envelope(await client.call_tool("act", {**args, "instruction": "open the first product"}))
    assert other["code"] == "IDEMPOTENCY_CONFLICT"
    await client.call_tool("close_session", {"session_id": session})


async def test_a_2026_clients_instruction_with_an_idempotency_key_runs_once(
    modern: Client, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(instructed)
    client = modern
    session = await session_on(client, shop.url("/agent/search.html"))
    args = {"session_id": session, "instruction": "search for earbuds", "idempotency_key": "search-2"}
    typed = ok(await client.call_tool("act", args))
    assert "/agent/results.html" in typed["url"]
    again = ok(await client.call_tool("act", args))
    assert again["idempotent_replay"] is True and vendor.calls == 1
    assert len(typed_events(await events(client, session), "act.model")) == 1
    await client.call_tool("close_session", {"session_id": session})
