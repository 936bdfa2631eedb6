"""The agent's small parts without a browser: done against the output schema, loop detection, the step message,
the tools the model is offered, and how guard refusals are sorted.
"""

from __future__ import annotations

import json

import pytest

from mcp_browsa.browser.guard import BlockedRequest
from mcp_browsa.config import load_settings
from mcp_browsa.engine.agent.loop_guard import LoopGuard
from mcp_browsa.engine.agent.output import check_output_schema, parse_done
from mcp_browsa.engine.agent.prompt import HISTORY_LINES, PromptState, tool_specs
from mcp_browsa.engine.agent.walls import GuardWatch

SCHEMA = {"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]}


def test_done_data_is_validated_and_forgiving_about_json_strings() -> None:
    assert parse_done({"result": "ok", "data": {"price": 3}}, SCHEMA).problems == ()
    assert parse_done({"result": "ok", "data": '{"price": 3}'}, SCHEMA).data == {"price": 3}
    assert parse_done({"result": '{"price": 3}'}, SCHEMA).data == {"price": 3}
    wrong = parse_done({"result": "ok", "data": {"price": "3"}}, SCHEMA)
    assert wrong.problems == ("data['price']: '3' is not of type 'number'",)
    assert parse_done({"result": "no json here"}, SCHEMA).problems[0].startswith("data is missing")
    gave_up = parse_done({"result": "cannot", "success": "false"}, SCHEMA)
    assert gave_up.success is False and gave_up.problems == ()
    assert parse_done({"result": "plain"}, None).problems == ()


def test_an_output_schema_is_checked_before_the_task_starts() -> None:
    assert check_output_schema(SCHEMA) is SCHEMA
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        check_output_schema({"type": "objekt"})
    with pytest.raises(ValueError, match="JSON Schema object"):
        check_output_schema(["type", "object"])


def test_loop_guard_counts_repeats_on_an_unchanged_page_only() -> None:
    guard = LoopGuard()
    assert not guard.check("p1", "click", {"index": 4})
    assert not guard.check("p1", "click", {"index": 4})
    assert guard.check("p1", "click", {"index": 4})
    fresh = LoopGuard()
    assert not fresh.check("p1", "click", {"index": 4})
    assert not fresh.check("p2", "click", {"index": 4})  # the page changed
    assert not fresh.check("p2", "click", {"index": 5})  # another element
    assert not fresh.check("p2", "click", {"index": 5})
    assert not fresh.check("p2", "scroll", {"direction": "down"})


def test_the_step_message_keeps_the_newest_page_whole_and_old_steps_short() -> None:
    state = PromptState("Find the price", max_steps=100, input={"q": "earbuds"}, output=SCHEMA)
    for n in range(1, 61):
        state.add_step(n, 'click {"index": 3}', "clicked [3] <a> " + "very long link text " * 30)
    state.notes.append("a write was blocked")
    state.extracted = "x" * 50_000
    message = state.message(61, "URL: http://shop/\n[1] <a> Cart")
    assert message.index("TASK:") < message.index("INPUT") < message.index("OUTPUT") < message.index("CURRENT PAGE")
    assert message.endswith("URL: http://shop/\n[1] <a> Cart")
    assert f"(… {60 - HISTORY_LINES} earlier steps not shown)" in message
    assert "60. click" in message and "\n20. click" not in message
    assert max(len(ln) for ln in message.splitlines() if ln[:1].isdigit()) <= 240
    assert "a write was blocked" in message and len(message) < 25_000
    again = state.message(62, "URL: http://shop/")
    assert "a write was blocked" not in again and "READ_PAGE RESULT" not in again  # said once


def test_the_tools_offered_follow_the_task() -> None:
    names = [t.name for t in tool_specs(output=None, ask_human=True)]
    assert names[:3] == ["navigate", "click", "type"] and "ask_human" in names and names[-1] == "done"
    assert "ask_human" not in [t.name for t in tool_specs(output=None, ask_human=False)]
    done = next(t for t in tool_specs(output=SCHEMA, ask_human=False) if t.name == "done")
    assert done.parameters["properties"]["data"] == SCHEMA and done.parameters["required"] == ["result", "data"]
    with_refs = {"$defs": {"p": {"type": "number"}}, "type": "object", "properties": {"price": {"$ref": "#/$defs/p"}}}
    done = next(t for t in tool_specs(output=with_refs, ask_human=False) if t.name == "done")
    assert "$ref" not in json.dumps(done.parameters)  # described in the message instead


def test_guard_refusals_are_sorted_into_navigations_writes_and_the_rest() -> None:
    watch = GuardWatch()
    watch.on_block(BlockedRequest("http://shop/submit", "writes", "POST is a write", "POST", "route", True))
    watch.on_block(BlockedRequest("tracker.example:443", "allowed_domains", "not allowed", None, "proxy", False))
    assert watch.navigation is None
    assert [w.rule for w in watch.take_writes()] == ["writes"] and watch.take_writes() == []
    assert [o.url for o in watch.take_other()] == ["tracker.example:443"]
    watch.on_block(BlockedRequest("http://evil.example/", "allowed_domains", "not allowed", "GET", "route", True))
    assert watch.navigation is not None and watch.navigation.url == "http://evil.example/"


def test_keys_in_settings_never_show_in_a_repr() -> None:
    settings = load_settings({"BROWSA_HOME": "/tmp/unused", "BROWSA_LLM_API_KEY": "sk-env-0123456789"})
    assert settings.llm_api_key == "sk-env-0123456789" and "sk-env-0123456789" not in repr(settings)
