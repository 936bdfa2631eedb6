"""extract and screenshot given a `session_id`: the session's active tab instead of a URL, answered at once.

The structured result is the session's job (as a URL's extract or screenshot returns its job), with the extraction
as its `result`, or the new screenshot among its resources and as image content. With a model, extract's `data` is
validated against the schema with the same bounded re-asks as a URL's (engine/extraction.py).
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ContentBlock, InputRequiredResult, TextContent

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.engine.extraction import extract_data
from mcp_browsa.llm.base import ChatModel
from mcp_browsa.sessions.pages import extract_page, read_page, screenshot_page
from mcp_browsa.tools.instructed import has_model, with_model
from mcp_browsa.tools.results import picture

__all__ = ["session_extract", "session_screenshot"]


async def session_extract(
    app: Browsa,
    ctx: Context[Any, Any] | None,
    caller: Caller,
    session_id: str,
    *,
    schema: dict[str, Any] | None,
    prompt: str | None,
    max_chars: int,
    llm: str | None = None,
    llm_api_key: str | None = None,
) -> CallToolResult | InputRequiredResult:
    """With a model (named, the server's, or the client's), `data` read off the tab and checked against `schema`,
    each model call charged to the session's job; without one, the tab's markdown beside schema or prompt."""
    if not has_model(app, ctx, llm, llm_api_key):
        result = await app.sessions.use(
            caller.workspace_id, session_id, lambda live: extract_page(live, max_chars, schema=schema, prompt=prompt)
        )
        # The model reads the page and what to do with it; the job around it is in structuredContent.
        return await _answer(
            app, caller, session_id, result, f"{result.get('instructions', '')}\n\n{result.get('content', '')}"
        )

    async def read(model: ChatModel) -> dict[str, Any]:
        live = await app.sessions.get(caller.workspace_id, session_id)
        content = await app.sessions.use(caller.workspace_id, session_id, lambda live: read_page(live, max_chars))
        out: dict[str, Any] = {k: content[k] for k in ("url", "final_url", "title", "truncated") if k in content}
        out["data"] = await extract_data(live.ctx, model, app.prices, content, schema=schema, prompt=prompt)
        return out

    done = await with_model(app, ctx, "extract", read, llm=llm, api_key=llm_api_key)
    if isinstance(done, InputRequiredResult):
        return done
    text = (
        f"extracted from {done.get('final_url')}\n{json.dumps(done['data'], ensure_ascii=False, separators=(',', ':'))}"
    )
    return await _answer(app, caller, session_id, done, text)


async def _answer(app: Browsa, caller: Caller, session_id: str, result: dict[str, Any], text: str) -> CallToolResult:
    job = await app.engine.get(caller.workspace_id, session_id.strip().lower(), with_items=False)
    job.result = result
    data = job.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


async def session_screenshot(app: Browsa, caller: Caller, session_id: str, *, full_page: bool) -> CallToolResult:
    directory = app.settings.screenshots_dir
    n = await app.sessions.use(
        caller.workspace_id,
        session_id,
        lambda live: screenshot_page(live, directory, app.prices, full_page=full_page),
    )
    job = await app.get_job(caller, session_id.strip().lower())
    uri = f"browsa://jobs/{job.id}/screenshots/{n}"
    path = dict(await app.screenshot_files(job.id))[n]
    data = job.model_dump(mode="json", exclude_none=True)
    image = picture(path, uri, app.settings.max_image_bytes)
    content: list[ContentBlock] = [TextContent(type="text", text=f"screenshot {n} of session {job.id}: {uri}")]
    if isinstance(image, str):
        data["notes"] = [image]
        content[0] = TextContent(type="text", text=image)
    else:
        content.append(image)
    return CallToolResult(content=content, structured_content=data)
