"""A job as the host's model reads it: a one-line status header, then the content itself.

The text block of a tool result is what most hosts put in front of their model, so it carries what the
model needs and nothing twice: a scrape's markdown as markdown (not escaped inside JSON), an agent's answer,
a failure's code and message, or where a running job stands and how to follow it. The typed Job is in
`structuredContent` for programs.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_browsa.models import Job

__all__ = ["job_text", "status_line"]

# Formats a scrape may return, in the order they are shown after the header; markdown first, as the default.
_PAGE_TEXTS = ("markdown", "text", "html")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _page_header(result: dict[str, Any]) -> str:
    """`https://final/url "Title"`, with the HTTP status when it is not 2xx."""
    url = result.get("final_url") or result.get("url") or ""
    parts = [str(url)]
    title = result.get("title")
    if title:
        parts.append(_compact(str(title)))
    status = result.get("status")
    if isinstance(status, int) and not 200 <= status < 300:
        parts.append(f"HTTP {status}")
    return " ".join(p for p in parts if p)


def _page(result: dict[str, Any], job_id: str, n: int = 0) -> list[str]:
    """A page's content: each text format asked for, links as a markdown list, the screenshot's resource."""
    out: list[str] = []
    texts = [f for f in _PAGE_TEXTS if isinstance(result.get(f), str)]
    for fmt in texts:
        if len(texts) > 1 or fmt != "markdown":
            out.append(f"--- {fmt} ---")
        out.append(result[fmt])
    links = result.get("links")
    if isinstance(links, list):
        out.append("--- links ---")
        out.extend(f"- [{link.get('text') or ''}]({link.get('url')})" for link in links if isinstance(link, dict))
    if result.get("screenshot"):
        out.append(f"screenshot: browsa://jobs/{job_id}/screenshots/{n}")
    if result.get("truncated"):
        out.append("(cut at max_chars; raise it for more)")
    return out


def _header(job: Job) -> str:
    head = f"{job.kind} {job.status}"
    result = job.result or {}
    if job.kind in ("scrape", "extract", "screenshot") and (result.get("final_url") or result.get("url")):
        head += f" · {_page_header(result)}"
    if job.status == "failed":
        head += f" · {job.error_code or 'INTERNAL_ERROR'}"
    busy = job.status not in ("completed", "failed", "cancelled")
    if job.progress_total and (job.kind in ("task", "batch") or busy):
        head += f" · {job.progress_done}/{job.progress_total}"
    head += f" · job {job.id}"
    if job.idempotent_replay:
        head += " · replayed"
    return head


def _extract(result: dict[str, Any]) -> list[str]:
    if "data" in result:
        return [_compact(result["data"])]
    out = [str(result.get("instructions") or "")]
    if result.get("schema") is not None:
        out.append("schema: " + _compact(result["schema"]))
    elif result.get("prompt"):
        out.append("prompt: " + str(result["prompt"]))
    out.append("--- content ---")
    out.append(str(result.get("content") or ""))
    return out


def _task(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if result.get("final_result") is not None:
        out.append(str(result["final_result"]))
    if result.get("data") is not None:
        out.append("data: " + _compact(result["data"]))
    rest = {k: v for k, v in result.items() if k not in ("final_result", "data")}
    if rest:
        out.append(_compact(rest))
    return out


def _batch(job: Job) -> list[str]:
    out: list[str] = []
    for item in job.items or []:
        line = f"## [{item.index}] {item.status}"
        if item.url:
            line += f" {item.url}"
        if item.error_code:
            line += f" · {item.error_code}: {item.error_message or ''}"
        out.append(line)
        if item.result:
            out.extend(_task(item.result) if "final_result" in item.result else _page(item.result, job.id, item.index))
    return out


def _body(job: Job) -> list[str]:
    result = job.result or {}
    if job.status == "failed":
        return [job.error_message or ""]
    if job.status == "input_required":
        return [f"question: {job.question}", "answer with respond_to_job(job_id, answer)"]
    if job.status in ("queued", "running"):
        lines = [f"last: {job.last_action}"] if job.last_action else []
        return [*lines, job.hint or f'poll get_job(job_id="{job.id}", wait=25)']
    if job.kind == "extract":
        return _extract(result)
    if job.kind == "task":
        return _task(result)
    if job.kind in ("scrape", "screenshot"):
        return _page(result, job.id)
    return [_compact(result)] if result else []


def job_text(job: Job, notes: list[str] | None = None) -> str:
    """The job as the text block of a tool result (see the module docstring); `notes` replace the job's."""
    lines = [_header(job)]
    lines.extend(line for line in _body(job) if line)
    if job.kind == "batch" and job.items:
        lines.extend(_batch(job))
    if job.status == "cancelled" and job.error_message:
        lines.append(job.error_message)
    for event in job.events or []:
        lines.append(f"event {event.id} {event.type} {_compact(event.data)}")
    lines.extend(f"note: {note}" for note in (job.notes if notes is None else notes) or [])
    if job.routed_via:
        lines.append(f"routed via {job.routed_via}: {job.routing_reason or ''}")
    return "\n".join(lines)


def status_line(brief: dict[str, Any]) -> str:
    """get_job(view="status") as one line: kind, status, progress and id."""
    line = f"{brief.get('kind', 'job')} {brief.get('status')}"
    if brief.get("progress_total"):
        line += f" · {brief.get('progress_done', 0)}/{brief['progress_total']}"
    return f"{line} · job {brief.get('id')}"
