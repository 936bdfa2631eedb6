"""build_server(app) -> the MCP server: tool groups, resources, and errors turned into envelopes.

Every failure a tool call can meet becomes an MCP tool error whose text is the envelope
`{"code", "error", "request_id"}`; argument validation errors included. Nothing crashes the server.
An argument a tool does not declare is refused here, for every tool, before the tool runs.
"""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from mcp_browsa import __version__
from mcp_browsa.app import Browsa, Caller
from mcp_browsa.errors import BadRequest, BrowsaError, InternalError, NotFound, new_request_id
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE
from mcp_browsa.validation import refuse_undeclared

__all__ = [
    "ADMIN_STATE_KEY",
    "REQUEST_ID_STATE_KEY",
    "TOOL_GROUPS",
    "WORKSPACE_STATE_KEY",
    "BrowsaServer",
    "build_server",
    "caller_for",
    "current_workspace",
    "may_manage_keys",
]

log = logging.getLogger(__name__)

# Set per request by the HTTP auth layer; stdio callers use the default workspace.
current_workspace: contextvars.ContextVar[str] = contextvars.ContextVar("current_workspace", default=DEFAULT_WORKSPACE)
_current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("browsa_request_id", default=None)
# Keys of the ASGI scope state where the HTTP layer (auth.py) leaves the caller's workspace and request id. The
# scope travels with the request into the tool's Context, so it does not depend on contextvars crossing tasks.
WORKSPACE_STATE_KEY = "browsa.workspace"
REQUEST_ID_STATE_KEY = "browsa.request_id"
ADMIN_STATE_KEY = "browsa.admin"  # True when the request's API key was minted with --admin

INSTRUCTIONS = """\
mcp-browsa runs browser work as jobs. One-call tools (scrape, extract, screenshot) return the page
content directly when it is ready within `wait` seconds; otherwise they return a job. Long work
(run_task, batch) returns a job at once: poll it with get_job(job_id, wait=25), which returns as soon
as the job ends. Keep each call's wait under 60 seconds. A job in `input_required` has a question:
answer it with respond_to_job. Errors come back as {"code", "error", "request_id"}.
"""


def _http_request(ctx: Context[Any, Any] | None) -> Any:
    """The HTTP request carrying this call, or None on stdio and outside a request."""
    try:
        return ctx.request_context.request if ctx is not None else None
    except ValueError:
        return None


def _http_state(ctx: Context[Any, Any] | None) -> dict[str, Any]:
    """The HTTP layer's per-request state, or {} on stdio and outside a request."""
    scope = getattr(_http_request(ctx), "scope", None)
    state = scope.get("state") if isinstance(scope, dict) else None
    return state if isinstance(state, dict) else {}


def caller_for(ctx: Context[Any, Any] | None = None) -> Caller:
    state = _http_state(ctx)
    rid = _current_request_id.get() or state.get(REQUEST_ID_STATE_KEY) or new_request_id()
    workspace = state.get(WORKSPACE_STATE_KEY) or current_workspace.get()
    return Caller(workspace_id=workspace, request_id=rid, local=_http_request(ctx) is None)


def may_manage_keys(ctx: Context[Any, Any] | None) -> bool:
    """Stdio (the operator's own client), or an HTTP request made with an admin key; never --no-auth HTTP."""
    state = _http_state(ctx)
    return not state or state.get(ADMIN_STATE_KEY) is True


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:6]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - 6
    if more > 0:
        parts.append(f"… and {more} more")
    return "invalid arguments — " + "; ".join(parts)


def error_result(err: BrowsaError, request_id: str) -> CallToolResult:
    envelope = err.envelope(request_id)
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(envelope, ensure_ascii=False))],
        structured_content=None,
        is_error=True,
        _meta={"request_id": envelope["request_id"]},
    )


def _refused(tool: str, err: BrowsaError, request_id: str) -> CallToolResult:
    """An expected failure: one WARNING line (the default level) so the envelope's request id can be found in the log.

    Only the tool, code and ids go in: messages can quote what the caller sent (URLs, keys, field values), and
    arguments may carry secrets.
    """
    job_id = err.context.get("job_id")
    rid = err.request_id or request_id  # the id the envelope shows
    # %r and the cap: an unknown tool's name is whatever the client sent, and must not break the line.
    log.warning("tool %r failed [%s] %s%s", tool[:100], rid, err.code, f" job {job_id}" if job_id else "")
    return error_result(err, request_id)


class BrowsaServer(MCPServer[Any]):
    """MCPServer whose tool errors are always our envelope, with a request id per call."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        # Over HTTP the call shares the request id of the HTTP request carrying it (its X-Request-Id header).
        request_id = _http_state(context).get(REQUEST_ID_STATE_KEY) or new_request_id()
        token = _current_request_id.set(request_id)
        try:
            if not isinstance(arguments, dict):
                raise BadRequest("arguments must be a JSON object")
            tool = self._tool_manager.get_tool(name)
            if tool is not None:  # an unknown tool is the SDK's NOT_FOUND below
                refuse_undeclared(name, arguments, tool.parameters.get("properties", {}))
            result = await super().call_tool(name, arguments, context)
            if isinstance(result, CallToolResult):
                result.meta = {**(result.meta or {}), "request_id": request_id}
            return result
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, BrowsaError):
                return _refused(name, cause, request_id)
            if isinstance(cause, ValidationError):
                return _refused(name, BadRequest(_describe_validation(cause)), request_id)
            if cause is None and str(exc).startswith("Unknown tool"):
                return _refused(name, NotFound(f"{exc}; call tools/list to see the tools"), request_id)
            log.error("tool %s failed [%s] INTERNAL_ERROR: %s", name, request_id, exc, exc_info=cause)
            return error_result(InternalError("internal error; the server log has details"), request_id)
        except BrowsaError as exc:
            return _refused(name, exc, request_id)
        except Exception:
            log.exception("tool %s crashed [%s] INTERNAL_ERROR", name, request_id)
            return error_result(InternalError("internal error; the server log has details"), request_id)
        finally:
            _current_request_id.reset(token)


TOOL_GROUPS = ("tasks", "quick", "browser", "identities", "webhooks", "account", "content")


def build_server(app: Browsa, *, groups: tuple[str, ...] | None = None) -> BrowsaServer:
    from mcp_browsa.tools import register_all

    server = BrowsaServer(
        name="mcp-browsa",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=app.settings.log_level
        if app.settings.log_level in ("DEBUG", "INFO", "WARNING", "ERROR")
        else "WARNING",  # type: ignore[arg-type]
    )
    register_all(server, app, set(groups or TOOL_GROUPS))
    return server
