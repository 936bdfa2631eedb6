"""The browser group: a live browser the host's own model drives — open_session, navigate, act, observe, close.

Results put what the model reads in the text (one line of what happened, then the observation) and the typed
object in structuredContent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field

from mcp_browsa.app import Browsa
from mcp_browsa.engine.requests import AllowedDomains
from mcp_browsa.errors import AgentNotRunning, BadRequest
from mcp_browsa.identities import parse_ttl
from mcp_browsa.identities.models import OsTypeName
from mcp_browsa.server import BrowsaServer, caller_for
from mcp_browsa.sessions import SessionEnded, SessionList, SessionRequest, SessionView, StepResult
from mcp_browsa.tools.instructed import instructed_act, instructed_observe
from mcp_browsa.tools.quick import IdempotencyKey

__all__ = ["register", "step_result"]

SessionId = Annotated[str, Field(min_length=1, max_length=100, description="From open_session.")]
Instruction = Annotated[
    str | None, Field(max_length=2000, description="Plain-English request, resolved by a model (when one is set up).")
]
ActionName = Literal[
    "click", "type", "select", "press", "scroll", "go_back", "switch_tab", "wait", "upload", "accept_dialog",
    "dismiss_dialog",
]  # fmt: skip


def step_result(result: StepResult) -> CallToolResult:
    """The model reads the outcome line and the observation; the typed result goes in structuredContent."""
    text = f"{result.outcome}\n\n{result.observation}"
    data = result.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _opened(view: SessionView) -> CallToolResult:
    head = (
        f"session {view.session_id} open until its TTL or {view.idle_timeout_seconds:g} s without a call;"
        f" allowed_domains {', '.join(view.allowed_domains)}; allow_writes={str(view.allow_writes).lower()}."
    )
    if view.cdp_url:
        head += f" cdp_url {view.cdp_url}"
    if view.human_login:
        head += (
            f" It is for a person's sign-in: ask the user to open {view.live_url}, click Take control and sign in; then"
            " call close_session to save the login into the identity. No tool shows you this page."
        )
    elif view.live_url:
        head += f" live_url {view.live_url} (a person can watch it there and take control)."
    text = f"{head} {view.outcome or ''}".rstrip() + f"\n\n{view.observation or ''}"
    data = view.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def open_session(
        initial_url: Annotated[
            str | None, Field(max_length=4096, description="First page (bare domains get https).")
        ] = None,
        allowed_domains: AllowedDomains = None,
        allow_writes: Annotated[bool, Field(description="Let forms post and WebSockets open.")] = False,
        identity_id: Annotated[
            str | None, Field(max_length=100, description="Run on this persistent identity's saved profile.")
        ] = None,
        ttl: Annotated[
            str | None, Field(max_length=20, description='Hard limit: "90s", "15m" (default), "1h" max.')
        ] = None,
        idle_timeout: Annotated[
            str | None, Field(max_length=20, description='Ends after this long without a call (default "5m").')
        ] = None,
        os_type: Annotated[OsTypeName | None, Field(description="Fingerprint OS.")] = None,
        country: Annotated[
            str | None, Field(min_length=2, max_length=2, description="ISO country for locale/time zone.")
        ] = None,
        cdp: Annotated[
            bool, Field(description="Also return a CDP URL (a CDP client can bypass the URL guard).")
        ] = False,
        human_login: Annotated[
            bool,
            Field(
                description="A person signs in to identity_id at initial_url through live_url; close_session saves"
                " the login. You never see that page."
            ),
        ] = False,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, SessionView]:
        """Open a browser to drive with navigate/act/observe; returns its first observation. allowed_domains
        defaults to initial_url's site."""
        caller = caller_for(ctx)
        request = SessionRequest(
            identity_id=identity_id,
            initial_url=initial_url,
            allowed_domains=allowed_domains,
            allow_writes=allow_writes,
            ttl_seconds=parse_ttl(ttl, None) or 900.0,
            idle_seconds=parse_ttl(idle_timeout, None, field="idle_timeout") or 300.0,
            os_type=os_type,
            country=country,
            cdp=cdp,
            human_login=human_login,
        )
        view = await app.sessions.open(caller.workspace_id, caller.request_id, request)
        return _opened(view)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def navigate(
        session_id: SessionId,
        url: Annotated[str, Field(max_length=4096, description="Where to go (bare domains get https).")],
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, StepResult]:
        """Open a URL in the active tab; returns what happened and the new page."""
        caller = caller_for(ctx)
        result = await app.idempotent(
            caller,
            "navigate",
            idempotency_key,
            {"session_id": session_id, "url": url},
            lambda: app.sessions.navigate(caller.workspace_id, session_id, url),
            model=StepResult,
            recover=_no_recovery,
        )
        return step_result(result)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True))
    async def act(
        session_id: SessionId,
        action: Annotated[ActionName | None, Field(description="What to do.")] = None,
        index: Annotated[int | None, Field(ge=1, description="Element [N] of the latest observation.")] = None,
        text: Annotated[
            str | None,
            Field(
                max_length=10_000,
                description="type: text ({{secret:NAME}} allowed); accept_dialog: the answer.",
            ),
        ] = None,
        submit: Annotated[bool | None, Field(description="type: press Enter after.")] = None,
        option: Annotated[str | None, Field(max_length=500, description="select: option label or value.")] = None,
        key: Annotated[str | None, Field(max_length=50, description="press: Enter, Escape, Control+A…")] = None,
        direction: Annotated[Literal["up", "down"] | None, Field(description="scroll.")] = None,
        amount: Annotated[float | None, Field(ge=0.1, le=10, description="scroll: screens (default 1).")] = None,
        tab: Annotated[int | None, Field(ge=0, description="switch_tab: 0-based, as in TABS.")] = None,
        seconds: Annotated[float | None, Field(ge=0, le=10, description="wait.")] = None,
        path: Annotated[
            str | None, Field(max_length=500, description="upload: file in the server's upload dir.")
        ] = None,
        instruction: Instruction = None,
        idempotency_key: IdempotencyKey = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, StepResult] | InputRequiredResult:
        """Do one action (indices of the latest observation), or an `instruction` a model resolves; returns
        what happened and the new page."""
        if instruction is not None and action is not None:
            raise BadRequest("give `action` (with its arguments) or `instruction`, not both")
        if instruction is not None:
            return await _instructed(app, ctx, session_id, instruction, idempotency_key)
        if action is None:
            raise BadRequest("act needs `action`: click, type, select, press, scroll, go_back, switch_tab, wait,"
                             " upload, accept_dialog or dismiss_dialog")  # fmt: skip
        given = {
            "index": index, "text": text, "submit": submit, "option": option, "key": key, "direction": direction,
            "amount": amount, "tab": tab, "seconds": seconds, "path": path,
        }  # fmt: skip
        args = {k: v for k, v in given.items() if v is not None}
        caller = caller_for(ctx)
        result = await app.idempotent(
            caller,
            "act",
            idempotency_key,
            {"session_id": session_id, "action": action, **args},
            lambda: app.sessions.step(caller.workspace_id, session_id, action, args),
            model=StepResult,
            recover=_no_recovery,
        )
        return step_result(result)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
    async def observe(
        session_id: SessionId, instruction: Instruction = None, ctx: Context[Any, Any] | None = None
    ) -> Annotated[CallToolResult, StepResult] | InputRequiredResult:
        """The page now (URL, tabs, numbered elements, text); with `instruction`, only the matching elements."""
        if instruction is not None:
            seen = await instructed_observe(app, ctx, caller_for(ctx).workspace_id, session_id, instruction)
            return seen if isinstance(seen, InputRequiredResult) else step_result(seen)
        return step_result(await app.sessions.observe(caller_for(ctx).workspace_id, session_id))

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=False))
    async def close_session(session_id: SessionId, ctx: Context[Any, Any] | None = None) -> SessionEnded:
        """End a session; an identity's cookies and localStorage are saved."""
        return await app.sessions.close(caller_for(ctx).workspace_id, session_id)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_sessions(ctx: Context[Any, Any] | None = None) -> SessionList:
        """Open sessions of this server process."""
        return await app.sessions.list(caller_for(ctx).workspace_id)


class _ModelAsked(Exception):
    """The instruction's model call went back to a 2026-07-28 client: nothing was done, the key stays free."""

    def __init__(self, asked: InputRequiredResult) -> None:
        super().__init__("model call sent to the client")
        self.asked = asked


async def _instructed(
    app: Browsa, ctx: Context[Any, Any] | None, session_id: str, instruction: str, key: str | None
) -> CallToolResult | InputRequiredResult:
    """act(instruction=…) at most once per idempotency_key: a retry replays the first result without a model
    call or a second action. A round trip's InputRequiredResult leaves the key unclaimed until the action runs."""
    caller = caller_for(ctx)

    async def run() -> StepResult:
        done = await instructed_act(app, ctx, caller.workspace_id, session_id, instruction)
        if isinstance(done, InputRequiredResult):
            raise _ModelAsked(done)
        return done

    params = {"session_id": session_id, "instruction": instruction}
    try:
        result = await app.idempotent(caller, "act", key, params, run, model=StepResult, recover=_no_recovery)
    except _ModelAsked as asked:
        return asked.asked
    return step_result(result)


async def _no_recovery(job_id: str) -> StepResult:
    raise AgentNotRunning(f"the call holding this idempotency_key died with its server (job {job_id}); act again")
