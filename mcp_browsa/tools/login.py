"""The `login` tool (identities group): sign in to a site with credentials from the vault, never shown to anyone.

A thin adapter over `app.logins`: the job is queued, waited on within the call, and returned; values stay server-side.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
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

SecretName = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Name of a vault secret (set at a terminal with `mcp-browsa vault set NAME`).",
    ),
]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    @keyword_param("async_", "async")
    async def login(
        service: Annotated[
            str,
            Field(
                min_length=1,
                max_length=60,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                description="Short name of the site, e.g. github. The default secrets are {service}_username and"
                " {service}_password.",
            ),
        ],
        url: Annotated[str, Field(max_length=4096, description="The login page's absolute http(s) URL.")],
        username_secret: SecretName = None,
        password_secret: SecretName = None,
        identity_id: Annotated[
            str | None,
            Field(
                max_length=100,
                description="Log in on this persistent identity (its session keeps the cookies). Default: a burner.",
            ),
        ] = None,
        success_selector: Annotated[
            str | None,
            Field(max_length=500, description="CSS selector that is visible only once logged in (e.g. a user menu)."),
        ] = None,
        success_text: Annotated[
            str | None, Field(max_length=500, description="Text the page shows only once logged in.")
        ] = None,
        timeout_seconds: Annotated[float, Field(ge=5, le=120, description="Limit for the whole login.")] = 45,
        async_: Annotated[
            bool, Field(alias="async", description="Return the job at once instead of waiting; poll it with get_job.")
        ] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, Job]:
        """Log in to a site with a username and password from the server's vault; the values are never returned.

        Finds the username/email and password fields (also on two-step pages), fills them server-side, submits,
        and reports `result.logged_in` with the evidence (URL change, password field gone, error text shown).
        The browser may only contact the login page's host. Secrets are added by the operator at a terminal with
        `mcp-browsa vault set NAME`; a missing one is NOT_FOUND naming it.
        """
        caller = caller_for(ctx)
        job = await app.logins.submit(
            caller.workspace_id,
            caller.request_id,
            service=service,
            url=url,
            username_secret=username_secret,
            password_secret=password_secret,
            identity_id=identity_id,
            success_selector=success_selector,
            success_text=success_text,
            timeout_seconds=timeout_seconds,
            sync=not async_,
        )
        if not async_:
            job = await app.get_job(caller, job.id, wait=min(SYNC_WAIT_CAP, timeout_seconds + 5))
            if job.status not in TERMINAL:  # handed back to poll: announced like an async job
                await app.engine.jobs.mark_async(job.id)
        if job.status == "failed" and job.error_code in _ERROR_CODES:
            raise_if_failed(job)
        return await job_result(app, job)
