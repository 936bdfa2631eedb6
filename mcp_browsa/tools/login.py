"""The `login` tool (identities group): sign in to a site with credentials from the vault, never shown to anyone.

A thin adapter over `app.logins`: the job is queued, waited on within the call, and returned; values stay server-side.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests.login import (
    LoginIdentity,
    LoginRequest,
    LoginTimeout,
    LoginUrl,
    SecretName,
    Service,
    SuccessSelector,
    SuccessText,
)
from mcp_browsa.models import TERMINAL, Job
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.tools.params import keyword_param
from mcp_browsa.tools.results import job_result, raise_if_failed

__all__ = ["register"]

# Hosts cut tool calls near 60 s; the answer must come back before that.
SYNC_WAIT_CAP = 50.0
# Failures that are the caller's or the operator's to fix come back as tool errors; a login the site refused
# is a job result (status failed, error_code LOGIN_FAILED or CAPTCHA) whose evidence says what the page showed.
_ERROR_CODES = frozenset({"BLOCKED", "INSUFFICIENT_CREDIT", "INTERNAL_ERROR"})


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    @keyword_param("async_", "async")
    async def login(
        service: Service,
        url: LoginUrl,
        username_secret: SecretName = None,
        password_secret: SecretName = None,
        identity_id: LoginIdentity = None,
        success_selector: SuccessSelector = None,
        success_text: SuccessText = None,
        timeout_seconds: LoginTimeout = 45,
        async_: Annotated[bool, Field(alias="async", description="Return the job at once; poll get_job.")] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Log in with vaulted username and password (never returned); result.logged_in says with evidence."""
        req = LoginRequest.pick({**locals(), "sync": not async_})
        caller = caller_for(ctx)
        job = await app.logins.submit(caller.workspace_id, caller.request_id, req)
        if not async_:
            job = await app.get_job(caller, job.id, wait=min(SYNC_WAIT_CAP, timeout_seconds + 5))
            if job.status not in TERMINAL:  # handed back to poll: announced like an async job
                await app.engine.jobs.mark_async(job.id)
        if job.status == "failed" and job.error_code in _ERROR_CODES:
            raise_if_failed(job)
        return await job_result(app, job)
