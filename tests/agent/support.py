"""Helpers for agent tests: reading the page out of what the loop sent the model, and replies by name.

Policies find elements by what the observation shows (`find_index`), never by fixed numbers, so every test
also proves the observation is usable.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from mcp_browsa.app import Browsa, Caller
from mcp_browsa.models import TERMINAL, Job
from tests.support.fake_llm import PolicyReply, PolicyRequest, find_index
from tests.support.waits import wait_until

__all__ = [
    "CALLER",
    "FormInbox",
    "Reply",
    "ended",
    "index",
    "page",
    "page_url",
    "released",
    "step_of",
    "tool",
    "until",
]

CALLER = Caller()
Reply = PolicyReply


def page(request: PolicyRequest) -> str:
    """The CURRENT PAGE part of the step message (the observation itself)."""
    text = request.observation
    return text.split("CURRENT PAGE", 1)[-1]


def page_url(request: PolicyRequest) -> str:
    match = re.search(r"^URL: (\S+)", page(request), re.MULTILINE)
    return match.group(1) if match else ""


def step_of(request: PolicyRequest) -> int:
    match = re.search(r"CURRENT PAGE \(step (\d+)", request.observation)
    return int(match.group(1)) if match else 0


def index(request: PolicyRequest, pattern: str | re.Pattern[str]) -> int:
    """The element number whose line matches `pattern`; fails the policy (and so the test) when absent."""
    found = find_index(page(request), pattern)
    if found is None:
        raise AssertionError(f"no element matching {pattern!r} in:\n{page(request)[:3000]}")
    return found


async def ended(app: Browsa, job_id: str, timeout: float = 60) -> Job:
    """The job once it has ended (completed, failed or cancelled)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await app.get_job(CALLER, job_id, wait=min(5.0, max(0.1, deadline - time.monotonic())))
        if job.status in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout} s"


async def until(app: Browsa, job_id: str, status: str, timeout: float = 60) -> Job:
    """The job once it is in `status`; fails at once if it ends some other way."""

    async def there() -> Job | None:
        job = await app.get_job(CALLER, job_id)
        assert job.status not in TERMINAL or job.status == status, (
            f"job {job_id} ended {job.status} ({job.error_code}: {job.error_message})"
        )
        return job if job.status == status else None

    return await wait_until(there, f"job {job_id} {status}", timeout=timeout)


@dataclass
class FormInbox:
    """POSTs a site received at one path, parsed as form fields."""

    posts: list[dict[str, str]] = field(default_factory=list)

    def route(self, title: str = "Thank you") -> Callable[[SimpleHTTPRequestHandler], None]:
        def handle(handler: SimpleHTTPRequestHandler) -> None:
            length = int(handler.headers.get("Content-Length") or 0)
            body = handler.rfile.read(length).decode()
            fields = {k: v[-1] for k, v in parse_qs(body).items()}
            self.posts.append(fields)
            html = (
                f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
                f"<p>Thanks, {fields.get('name', 'friend')}: your message was sent.</p></body></html>"
            ).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(len(html)))
            handler.end_headers()
            handler.wfile.write(html)

        return handle


@contextmanager
def released(event: threading.Event) -> Iterator[threading.Event]:
    """Always open `event` on the way out, so a blocked policy thread never outlives its test."""
    try:
        yield event
    finally:
        event.set()


def tool(name: str, **args: Any) -> PolicyReply:
    return PolicyReply.tool(name, **args)
