"""Judging a `done`: the task's `output` JSON Schema (checked at submit, applied to each done) and its success condition.

An invalid `done` is not an error yet: its problems are phrased for the model, which gets a bounded number
of tries to fix them. The success condition is judged by a separate model call that sees only the condition,
the reported result and the final page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp_browsa.engine.agent.prompt import VERDICT_TOOL, VERIFY_SYSTEM, verify_message
from mcp_browsa.llm import ChatModel, Completion, Message

__all__ = ["MAX_SCHEMA_CHARS", "DoneCall", "check_output_schema", "judge_condition", "parse_done"]

MAX_SCHEMA_CHARS = 20_000  # the schema travels in every step's message
_MAX_PROBLEMS = 4


def check_output_schema(schema: Any) -> dict[str, Any]:
    """The schema if it is a usable JSON Schema object; ValueError says what to fix."""
    if not isinstance(schema, dict):
        raise ValueError('output must be a JSON Schema object, e.g. {"type": "object", "properties": {...}}')
    size = len(json.dumps(schema, ensure_ascii=False, default=str))
    if size > MAX_SCHEMA_CHARS:
        raise ValueError(f"output schema is {size:,} characters as JSON; the limit is {MAX_SCHEMA_CHARS:,}")
    import jsonschema  # loaded with the first schema a task brings, not at every start

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"output is not a valid JSON Schema: {exc.message}") from exc
    return schema


@dataclass(frozen=True)
class DoneCall:
    """A `done` call read against the output schema."""

    success: bool
    result: str
    data: Any = None
    problems: tuple[str, ...] = ()  # empty when data fits the schema (or there is no schema)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no")
    return value is None or bool(value)


def parse_done(args: dict[str, Any], schema: dict[str, Any] | None) -> DoneCall:
    """Read `done(result, success, data)`; `data` is validated when the task has an output schema.

    Models sometimes send `data` as a JSON string, or put the JSON in `result`: both are accepted.
    """
    success = _truthy(args.get("success", True))
    raw_result = args.get("result", "")
    result = raw_result if isinstance(raw_result, str) else json.dumps(raw_result, ensure_ascii=False)
    if schema is None or not success:
        return DoneCall(success, result, args.get("data"))
    data = args.get("data")
    if isinstance(data, str) and schema.get("type") != "string":
        data = _json_or(data)
    if data is None:
        data = _json_or(result) if schema.get("type") != "string" else result
    if data is None:
        return DoneCall(success, result, None, ("data is missing: pass the extracted values as `data`",))
    import jsonschema

    problems = [
        f"data{''.join(f'[{p!r}]' for p in err.absolute_path)}: {err.message}"
        for err in sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path)
        )
    ]
    return DoneCall(success, result, data, tuple(problems[:_MAX_PROBLEMS]))


def _json_or(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def judge_condition(
    model: ChatModel, condition: str, result: str, data: Any, page: str
) -> tuple[bool, str, Completion]:
    """(met, reason, the call) for a success condition on the final page. Raises LLMError like any model call."""
    completion = await model.ainvoke(
        [Message.user(verify_message(condition, result, data, page))],
        [VERDICT_TOOL],
        system=VERIFY_SYSTEM,
        tool_choice="required",
        max_tokens=400,
    )
    verdict = next((c.arguments for c in completion.tool_calls if c.name == "verdict"), None)
    if verdict is None:
        return False, "the check gave no verdict", completion
    met = verdict.get("met")
    met = met.strip().lower() == "true" if isinstance(met, str) else bool(met)
    return met, str(verdict.get("reason") or "")[:300], completion
