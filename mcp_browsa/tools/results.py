"""Turning jobs into MCP tool results: structured content, compact JSON text, and screenshots as images.

Shared by every tool that returns a job, so all of them look alike to the host.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent

from mcp_browsa.app import Browsa
from mcp_browsa.engine.jobs import ProgressFn
from mcp_browsa.errors import (
    BrowsaError,
    Forbidden,
    InsufficientCredit,
    InternalError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcp_browsa.models import Job

__all__ = ["job_result", "picture", "progress_reporter", "raise_if_failed"]


def picture(path: str, uri: str, cap: int) -> ImageContent | str:
    """The screenshot as image content, or a note saying why it is not one and where it is."""
    try:
        png = Path(path).read_bytes()
    except OSError as exc:
        return f"screenshot {path} could not be read: {exc.strerror or exc}"
    if len(png) > cap:
        return (
            f"screenshot {path} is {len(png):,} bytes, over the {cap:,}-byte limit for image content"
            f" (BROWSA_MAX_IMAGE_BYTES), so it is not attached; read it from that file or as {uri}"
        )
    return ImageContent(type="image", data=base64.b64encode(png).decode("ascii"), mime_type="image/png")


async def job_result(app: Browsa, job: Job, *, images: bool = False) -> CallToolResult:
    """The job as structuredContent and JSON text; its screenshots as image content when `images`.

    A screenshot that cannot be attached (over BROWSA_MAX_IMAGE_BYTES) gets a line in `notes` instead, so the
    caller learns it exists and where, rather than seeing no picture and no reason.
    """
    data: dict[str, Any] = job.model_dump(mode="json", exclude_none=True)
    pictures: list[ContentBlock] = []
    if images and job.status == "completed":
        for n, path in await app.screenshot_files(job.id):
            uri = f"browsa://jobs/{job.id}/screenshots/{n}"
            image = picture(path, uri, app.settings.max_image_bytes)
            if isinstance(image, str):
                data.setdefault("notes", []).append(image)
            else:
                pictures.append(image)
            # `screenshots` (declared in the output schema) lists every screenshot, attached or not.
            if uri not in data.setdefault("screenshots", []):
                data["screenshots"].append(uri)
    # The text is the structured content serialized, resource links included, for hosts that read only text.
    text = TextContent(type="text", text=json.dumps(data, ensure_ascii=False))
    return CallToolResult(content=[text, *pictures], structured_content=data)


def progress_reporter(ctx: Context[Any, Any] | None) -> ProgressFn | None:
    """Send `notifications/progress` (step N of max, the last action) while a call waits on a job."""
    if ctx is None:
        return None

    async def report(job: Job) -> None:
        total = job.progress_total or None
        message = f"{job.status}: {job.last_action}" if job.last_action else str(job.status)
        try:
            await ctx.report_progress(
                float(job.progress_done or job.step_count), float(total) if total else None, message
            )
        except Exception:
            pass  # a client that went away must not fail the wait

    return report


_FAILURE_ERRORS: dict[str, type[BrowsaError]] = {
    "BLOCKED": Forbidden,
    "INSUFFICIENT_CREDIT": InsufficientCredit,
    "INTERNAL_ERROR": InternalError,
    "UPSTREAM_TIMEOUT": UpstreamTimeout,
}


def raise_if_failed(job: Job) -> Job:
    """A one-call tool that waited and failed answers with the error envelope, naming the job and its code."""
    if job.status != "failed":
        return job
    code = job.error_code or "INTERNAL_ERROR"
    error = _FAILURE_ERRORS.get(code, UpstreamUnavailable)
    raise error(job.error_message or code, job_id=job.id, job_error_code=code)
