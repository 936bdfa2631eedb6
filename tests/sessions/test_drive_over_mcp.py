"""A host's model driving a browser over stdio: search → results → detail by the indices the observation shows,
writes refused then allowed, default-deny, a secret typed and never returned, two sessions at once, idempotent act.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from mcp import Client
from mcp_types import CallToolResult

from tests.sessions.conftest import SECRET, Stack
from tests.support.mcp_server import call, envelope, ok
from tests.support.sites import Site, respond

pytestmark = pytest.mark.anyio


def text(result: CallToolResult) -> str:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return "\n".join(c.text for c in result.content if c.type == "text")  # type: ignore[union-attr]


def index_of(observation: str, pattern: str) -> int:
    """The [N] of the first element line matching `pattern`, as a model reading the observation would pick it."""
    for line in observation.splitlines():
        found = re.match(r"\[(\d+)\] (.*)", line)
        if found and re.search(pattern, found.group(2)):
            return int(found.group(1))
    raise AssertionError(f"no element matching {pattern!r} in:\n{observation}")


async def open_session(client: Client, **args: Any) -> dict[str, Any]:
    return ok(await call(client, "open_session", args))


async def act(client: Client, session_id: str, action: str, **args: Any) -> dict[str, Any]:
    return ok(await call(client, "act", {"session_id": session_id, "action": action, **args}))


async def test_search_result_detail_by_observed_indices(stack: Stack, site: Site) -> None:
    client = stack.client
    opened = await call(client, "open_session", {"initial_url": site.url("/agent/search.html")})
    session = ok(opened)
    sid = session["session_id"]
    assert session["allowed_domains"] == ["127.0.0.1"] and session["allow_writes"] is False
    assert "[" in text(opened) and "Find a product" in text(opened)

    box = index_of(session["observation"], r"<input name=q")
    typed = await act(client, sid, "type", index=box, text="earbuds", submit=True)
    assert typed["navigated"] and typed["url"].endswith("/agent/results.html?q=earbuds")
    assert "Showing 3 results" in typed["observation"]

    pro = index_of(typed["observation"], r"Wireless Earbuds Pro")
    clicked = await call(client, "act", {"session_id": sid, "action": "click", "index": pro})
    detail = ok(clicked)
    assert detail["url"].endswith("/agent/product.html?id=102") and "Price: $89.00" in detail["observation"]
    # What the model reads: the outcome line, then the observation itself, not a JSON copy of the result.
    first, _, rest = text(clicked).partition("\n\n")
    assert first.startswith("clicked [") and rest.startswith("URL: ") and '"observation"' not in text(clicked)

    add = index_of(detail["observation"], r"<button> Add to cart")
    added = await act(client, sid, "click", index=add)
    assert "Added Wireless Earbuds Pro to the cart" in added["observation"]

    looked = ok(await call(client, "observe", {"session_id": sid}))
    assert looked["observation"] == added["observation"]

    ended = ok(await call(client, "close_session", {"session_id": sid}))
    assert ended["steps"] == 3 and ended["credits_charged"] >= 1
    job = ok(await call(client, "get_job", {"job_id": sid, "events_after": 0}))
    assert job["kind"] == "session" and job["status"] == "completed" and job["step_count"] == 3
    steps = [e["data"] for e in job["events"] if e["type"] == "step"]
    assert [s["action"] for s in steps] == ["type", "click", "click"]


async def test_a_form_is_refused_read_only_and_posted_with_writes(stack: Stack, site: Site) -> None:
    client = stack.client
    for allow_writes in (False, True):
        stack.posted.clear()
        sid = (await open_session(client, initial_url=site.url("/sessions/signup.html"), allow_writes=allow_writes))[
            "session_id"
        ]
        page = ok(await call(client, "observe", {"session_id": sid}))["observation"]
        await act(client, sid, "type", index=index_of(page, r"<input name=name"), text="Ada")
        sent = await act(client, sid, "click", index=index_of(page, r"Create account"))
        if allow_writes:
            assert stack.posted == [b"name=Ada&password="] and "Account created" in sent["observation"]
            assert not sent.get("refused")
        else:
            assert stack.posted == []
            assert sent["refused"][0]["rule"] == "writes" and sent["refused"][0]["method"] == "POST"
            assert "rule writes" in sent["outcome"] and "allow_writes=false" in sent["outcome"]
            # The session goes on after the refusal.
            again = ok(await call(client, "navigate", {"session_id": sid, "url": site.url("/agent/cart.html")}))
            assert "Your cart" in again["observation"]
        ok(await call(client, "close_session", {"session_id": sid}))


async def test_allowed_domains_is_default_deny(stack: Stack, site: Site, other: Site) -> None:
    client = stack.client
    refused = envelope(await call(client, "open_session", {}))
    assert refused["code"] == "BAD_REQUEST" and "allowed_domains" in refused["error"]
    sid = (await open_session(client, initial_url=site.url("/agent/search.html")))["session_id"]
    elsewhere = envelope(await call(client, "navigate", {"session_id": sid, "url": other.url("/agent/cart.html")}))
    assert elsewhere["code"] == "FORBIDDEN" and "allowed_domains" in elsewhere["error"]
    ok(await call(client, "close_session", {"session_id": sid}))

    # A link off the allowlist: the guard refuses the navigation, act says so, and the session stays where it was.
    away = f'<!doctype html><title>Away</title><a href="{other.url("/agent/cart.html")}">Elsewhere</a>'.encode()
    site.routes["/sessions/away.html"] = lambda req: respond(req, away)
    sid = (await open_session(client, initial_url=site.url("/sessions/away.html")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]
    stopped = await act(client, sid, "click", index=index_of(page, r"Elsewhere"))
    assert stopped["refused"][0]["rule"] == "allowed_domains" and "refused to open" in stopped["outcome"]
    assert "Your cart" not in stopped["observation"]
    assert (
        "Away"
        in ok(await call(client, "navigate", {"session_id": sid, "url": site.url("/sessions/away.html")}))[
            "observation"
        ]
    )
    ok(await call(client, "close_session", {"session_id": sid}))

    both = await open_session(client, initial_url=site.url("/agent/search.html"), allowed_domains=["*"])
    there = ok(await call(client, "navigate", {"session_id": both["session_id"], "url": other.url("/agent/cart.html")}))
    assert "Your cart" in there["observation"]
    ok(await call(client, "close_session", {"session_id": both["session_id"]}))


async def test_a_secret_is_typed_from_the_vault_and_never_returned(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/sessions/echo.html")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]
    raw = await call(
        client,
        "act",
        {"session_id": sid, "action": "type", "index": index_of(page, r"<input name=word"),
         "text": "{{secret:site_password}}", "submit": True},
    )  # fmt: skip
    said = ok(raw)
    # The page echoes what was typed; the model sees the mask, and the placeholder in the outcome.
    assert "You typed: ••••" in said["observation"] and "{{secret:site_password}}" in said["outcome"]
    job = ok(await call(client, "get_job", {"job_id": sid, "events_after": 0}))
    for blob in (str(raw.content), str(raw.structured_content), str(job)):
        assert SECRET not in blob and parse_qs(f"x={SECRET}")["x"][0] not in blob
    ok(await call(client, "close_session", {"session_id": sid}))


async def test_two_sessions_at_once_each_its_own_browser(stack: Stack, site: Site) -> None:
    client = stack.client
    a = (await open_session(client, initial_url=site.url("/sessions/counter.html")))["session_id"]
    b = (await open_session(client, initial_url=site.url("/sessions/counter.html")))["session_id"]
    listed = ok(await call(client, "list_sessions", {}))
    assert {a, b} <= {s["session_id"] for s in listed["sessions"]}
    like = index_of(ok(await call(client, "observe", {"session_id": a}))["observation"], r"<button> Like")
    await act(client, a, "click", index=like)
    after_a = await act(client, a, "click", index=like)
    assert "Likes: 2" in after_a["observation"]
    assert "Likes: 0" in ok(await call(client, "observe", {"session_id": b}))["observation"]
    # Sessions count against BROWSA_MAX_BURNERS (4 here): the fifth is refused, with a time to retry.
    more = [(await open_session(client, initial_url=site.url("/agent/cart.html")))["session_id"] for _ in range(2)]
    full = envelope(await call(client, "open_session", {"initial_url": site.url("/agent/cart.html")}))
    assert full["code"] == "TOO_MANY_REQUESTS" and full["retry_after"] > 0
    for sid in (a, b, *more):
        ok(await call(client, "close_session", {"session_id": sid}))


async def test_a_retried_act_with_its_idempotency_key_clicks_once(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/sessions/counter.html")))["session_id"]
    like = index_of(ok(await call(client, "observe", {"session_id": sid}))["observation"], r"<button> Like")
    args = {"session_id": sid, "action": "click", "index": like, "idempotency_key": "like-once"}
    first = ok(await call(client, "act", args))
    again = ok(await call(client, "act", args))
    assert "Likes: 1" in first["observation"] and again["idempotent_replay"] is True
    assert again["observation"] == first["observation"]
    assert "Likes: 1" in ok(await call(client, "observe", {"session_id": sid}))["observation"]
    conflict = envelope(await call(client, "act", {**args, "index": like + 1}))
    assert conflict["code"] == "IDEMPOTENCY_CONFLICT"
    ok(await call(client, "close_session", {"session_id": sid}))


async def test_bad_input_gets_clear_codes_and_changes_nothing(stack: Stack, site: Site) -> None:
    client = stack.client
    unknown = envelope(await call(client, "observe", {"session_id": "00000000-0000-4000-8000-000000000000"}))
    assert unknown["code"] == "NOT_FOUND"
    assert envelope(await call(client, "observe", {"session_id": "nonsense"}))["code"] == "NOT_FOUND"
    sid = (await open_session(client, initial_url=site.url("/agent/search.html")))["session_id"]
    bad_index = envelope(await call(client, "act", {"session_id": sid, "action": "click", "index": 99}))
    assert bad_index["code"] == "BAD_REQUEST" and "1..4" in bad_index["error"]
    bad_action = envelope(await call(client, "act", {"session_id": sid, "action": "fly"}))
    assert bad_action["code"] == "BAD_REQUEST"
    no_args = envelope(await call(client, "act", {"session_id": sid, "action": "type", "index": 3}))
    assert no_args["code"] == "BAD_REQUEST" and "text" in no_args["error"]
    wording = envelope(await call(client, "act", {"session_id": sid, "instruction": "click search"}))
    assert wording["code"] == "BAD_REQUEST" and "action" in wording["error"]
    still = ok(await call(client, "observe", {"session_id": sid}))
    assert still["url"].endswith("/agent/search.html")
    ok(await call(client, "close_session", {"session_id": sid}))
    ended = envelope(await call(client, "act", {"session_id": sid, "action": "click", "index": 1}))
    assert ended["code"] == "AGENT_NOT_RUNNING" and "closed on request" in ended["error"]
    assert envelope(await call(client, "close_session", {"session_id": sid}))["code"] == "AGENT_NOT_RUNNING"


async def test_select_press_scroll_wait_and_go_back(stack: Stack, site: Site) -> None:
    client = stack.client
    sid = (await open_session(client, initial_url=site.url("/agent/results.html?q=earbuds")))["session_id"]
    page = ok(await call(client, "observe", {"session_id": sid}))["observation"]
    sorted_ = await act(client, sid, "select", index=index_of(page, r"<select name=sort"), option="Price: low to high")
    assert "(price-asc)" in sorted_["observation"] and 'selected "Price: low to high"' in sorted_["outcome"]
    wrong = envelope(await call(client, "act", {"session_id": sid, "action": "select", "index": 1, "option": "x"}))
    assert wrong["code"] == "BAD_REQUEST" and "not a <select>" in wrong["error"]
    no_such = envelope(await call(client, "act", {"session_id": sid, "action": "select", "index": 4, "option": "Name"}))
    assert no_such["code"] == "BAD_REQUEST" and "Relevance | Price: low to high" in no_such["error"]
    waited = await act(client, sid, "wait", seconds=0.2)
    assert waited["outcome"] == "waited 0.2s"
    scrolled = await act(client, sid, "scroll", direction="down")
    assert scrolled["outcome"].startswith("did not move") and scrolled["ok"]

    await act(client, sid, "click", index=index_of(sorted_["observation"], r"Wired Earbuds Basic"))
    back = await act(client, sid, "go_back")
    assert back["url"].endswith("/agent/results.html?q=earbuds") and back["navigated"]
    box = index_of(back["observation"], r"<input name=q")
    await act(client, sid, "type", index=box, text="headphones")
    pressed = await act(client, sid, "press", key="Enter")
    assert "q=headphones" in pressed["url"]
    ok(await call(client, "close_session", {"session_id": sid}))
