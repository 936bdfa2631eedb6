"""extract and screenshot given a `session_id`: the session's active tab instead of a URL, answered at once.

The structured result is the session's job (as a URL's extract or screenshot returns its job), with the extraction
as its `result`, or the new screenshot among its resources and as image content.
"""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, ContentBlock, TextContent

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.sessions.pages import extract_page, screenshot_page
from mcp_browsa.tools.results import picture

__all__ = ["session_extract", "session_screenshot"]


async def session_extract(
    app: Browsa, caller: Caller, session_id: str, *, schema: dict[str, Any] | None, prompt: str | None, max_chars: int
) -> CallToolResult:
    params = {"schema": schema, "prompt": prompt}
    result = await app.sessions.use(caller.workspace_id, session_id, lambda live: extract_page(live, params, max_chars))
    job = await app.engine.get(caller.workspace_id, session_id.strip().lower(), with_items=False)
    job.result = result
    data = job.model_dump(mode="json", exclude_none=True)
    # The model reads the page and what to do with it; the job around it is in structuredContent.
    text = f"{result.get('instructions', '')}\n\n{result.get('content', '')}"
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
