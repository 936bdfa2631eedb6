"""`extract` with a model: the page's markdown in, `data` out, validated against the caller's JSON Schema.

One model call with a single `answer` tool whose arguments are the schema; an answer that does not match is
sent back with what is wrong, as the agent loop does with an invalid `done`, at most `MAX_REASKS` times. A
prompt instead of a schema asks for the answer as text. Each call is charged like an agent step (credits,
tokens, USD). Without a model the job answers as before: the page's text beside the schema, for the caller.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from mcp_browsa.engine.context import JobContext, Outcome
from mcp_browsa.engine.model_charges import ChargedModel
from mcp_browsa.engine.requests import ExtractRequest, ModelChoice
from mcp_browsa.llm.base import ChatModel, ClosableChatModel, LLMError, Message, ToolSpec
from mcp_browsa.models import PriceTable

__all__ = ["MAX_REASKS", "ExtractionFailed", "ModelFor", "extract_data", "extract_result", "extract_with_model"]

ModelFor = Callable[[JobContext, ModelChoice], Awaitable[ClosableChatModel | None]]

MAX_REASKS = 2
_PAGE_CHARS = 60_000  # what one call may read of the page; the job's own max_chars cut came first
SYSTEM = (
    "You extract data from one web page. Use only what the page says; where it has no value for a field, use null"
    " if the schema allows it. Call the `answer` tool exactly once."
)


class ExtractionFailed(Exception):
    """The model's answers did not match the schema after every re-ask; `code` is the job's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _answer_tool(schema: dict[str, Any] | None) -> ToolSpec:
    if schema is None:
        params = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
        return ToolSpec("answer", "Give the answer to the request, from the page.", params)
    params = {"type": "object", "properties": {"data": schema}, "required": ["data"]}
    return ToolSpec("answer", "Give the extracted data; `data` must match the schema.", params)


def _request(content: dict[str, Any], schema: dict[str, Any] | None, prompt: str | None) -> str:
    ask = f"SCHEMA:\n{json.dumps(schema, ensure_ascii=False)}" if schema is not None else f"REQUEST:\n{prompt}"
    page = str(content.get("markdown") or "")[:_PAGE_CHARS]
    head = f"URL: {content.get('final_url') or content.get('url')}\nTITLE: {content.get('title') or ''}"
    return f"{ask}\n\nPAGE:\n{head}\n\n{page}"


def _problems(schema: dict[str, Any], data: Any) -> list[str]:
    import jsonschema  # loaded with the first extraction, not at every start

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"data{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}" for e in errors[:8]]


async def extract_data(
    ctx: JobContext,
    model: ChatModel,
    prices: PriceTable,
    content: dict[str, Any],
    *,
    schema: dict[str, Any] | None,
    prompt: str | None,
) -> Any:
    """The data (or the prompt's answer) the model read off the page. Raises ExtractionFailed or LLMError."""
    tool = _answer_tool(schema)
    charged = ChargedModel(model, ctx, prices, "extract.model", {})
    messages = [Message.user(_request(content, schema, prompt))]
    problems: list[str] = []
    for _ in range(MAX_REASKS + 1):
        completion = await charged.ainvoke(messages, [tool], system=SYSTEM, tool_choice="required", max_tokens=4096)
        call = next((c for c in completion.tool_calls if c.name == "answer"), None)
        if call is None:
            problems = ["no `answer` call: call the answer tool with the result"]
            messages += [completion.as_message(), Message.user(problems[0])]
            continue
        if schema is None:
            return str(call.arguments.get("answer") or "")
        data = call.arguments.get("data")
        if isinstance(data, str) and schema.get("type") not in (None, "string"):
            try:
                data = json.loads(data)
            except ValueError:
                pass
        problems = _problems(schema, data)
        if not problems:
            return data
        fix = "Your data does not match the schema: " + "; ".join(problems) + ". Call answer again, fixed."
        messages += [completion.as_message(), Message.tool_result(call.id, fix)]
    raise ExtractionFailed(
        "LLM_ERROR", f"the model's data did not match the schema after {MAX_REASKS + 1} tries: {'; '.join(problems)}"
    )


async def extract_with_model(
    ctx: JobContext, model_for: ModelFor | None, prices: PriceTable, req: ExtractRequest, content: dict[str, Any]
) -> Outcome:
    """An extract job with a model: `data` read off the loaded page by the job's model."""
    out: dict[str, Any] = {k: content[k] for k in ("url", "final_url", "title", "status", "truncated") if k in content}
    try:
        model = await model_for(ctx, req) if model_for is not None else None
        if model is None:
            return Outcome.fail("INTERRUPTED", "the API key given with this call died with the process that had it")
        try:
            out["data"] = await extract_data(ctx, model, prices, content, schema=req.data_schema, prompt=req.prompt)
        finally:
            with anyio.CancelScope(shield=True):
                await model.aclose()
    except LLMError as exc:
        return Outcome.fail(exc.code, exc.message)
    except ExtractionFailed as exc:
        return Outcome.fail(exc.code, exc.message)
    await ctx.progress(1, 1, last_action=f"extracted from {out.get('final_url', req.url)[:100]}")
    return Outcome.ok(out)


def extract_result(content: dict[str, Any], *, schema: dict[str, Any] | None, prompt: str | None) -> dict[str, Any]:
    """The cleaned page text beside the caller's schema or prompt, ready for their own extraction."""
    out: dict[str, Any] = {k: content[k] for k in ("url", "final_url", "title", "status", "truncated") if k in content}
    out["content"] = content.get("markdown", "")
    out["text"] = content.get("text", "")  # the documented field: the page's visible text, no markup
    if schema is not None:
        out["schema"] = schema
        out["instructions"] = "Fill the JSON Schema in `schema` from `content`; use null where the page has no value."
    else:
        out["prompt"] = prompt
        out["instructions"] = "Answer `prompt` using only `content`."
    return out
