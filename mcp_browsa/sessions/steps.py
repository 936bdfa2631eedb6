"""One step of a session: (latest observation, action) → outcome, recorded on the session's job with the new page.

`perform` is a plain function on purpose: an action a model chose from the observation (act with an instruction)
runs exactly this path. The agent's own actions (engine/actions.py) do the work; a session adds uploads and dialog
answers, holds dialogs open for the caller, and reports what the page did besides (refused requests, downloads).
Mistakes in the call (no such action, a bad argument or index, an element gone since the observation) are
BAD_REQUEST, naming what the observation offers; nothing is recorded for them.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from mcp_browsa.engine.actions import ActionResult, execute
from mcp_browsa.engine.context import progress_write
from mcp_browsa.engine.observation import Observation, PageUnreadable, mask_text, observe
from mcp_browsa.errors import BadRequest, BrowsaError
from mcp_browsa.sessions.live import Inflight, LiveSession
from mcp_browsa.sessions.models import Refused, StepResult
from mcp_browsa.sessions.uploads import upload

__all__ = ["ACT_ACTIONS", "SESSION_MAX_CHARS", "look", "perform"]

ACT_ACTIONS = (
    *("click", "type", "select", "press", "scroll", "go_back", "switch_tab", "wait"),
    *("upload", "accept_dialog", "dismiss_dialog"),
)
_STEP_ACTIONS = frozenset((*ACT_ACTIONS, "navigate"))
_DOWNLOAD_WAIT = 30.0
# The host's model pays for every step's page, and the budget is spent near the viewport first: past about two
# screens of a long page, scrolling or `observe` is cheaper than carrying it on each call.
SESSION_MAX_CHARS = 5000


async def look(live: LiveSession) -> Observation:
    """The active tab's observation; while a dialog holds the page, only its URL and the dialog."""
    if len(live.tabs) == 0:  # the page closed its own last tab: a session always has one to look at
        await live.tabs.new_tab()
    page = live.tabs.active
    if live.events.dialog is not None:
        text = (
            f"URL: {mask_text(page.url, live.masks)}\nTABS: {len(live.tabs)} (active {live.tabs.active_index})\n"
            f"DIALOG (open): {mask_text(live.events.describe(live.events.dialog), live.masks)}\n"
            "The page is frozen until you answer: act accept_dialog (text= answers a prompt) or dismiss_dialog."
        )
        obs = Observation(text, page.url, "", 0, {}, "dialog", len(text), live.masks)
    else:
        try:
            with anyio.fail_after(20):
                obs = await observe(live.tabs, max_chars=SESSION_MAX_CHARS, mask_values=live.masks)
        except (PageUnreadable, TimeoutError) as exc:
            text = f"URL: {mask_text(page.url, live.masks)}\n(the page could not be read: {exc or 'timed out'})"
            obs = Observation(text, page.url, "", 0, {}, f"unreadable:{page.url}", len(text), live.masks)
    live.obs = obs
    return obs


async def _execute(live: LiveSession, action: str, args: dict[str, Any]) -> ActionResult:
    if action == "upload":
        return await upload(live, args)
    assert live.obs is not None
    return await execute(
        live.tabs,
        live.obs,
        action,
        args,
        resolve_secret=live.secrets,
        nav_timeout_ms=live.nav_timeout_ms,
        mask_values=live.masks,
    )


async def _run_until_dialog(live: LiveSession, action: str, args: dict[str, Any]) -> ActionResult | None:
    """Run the action in the session's task group; None when a dialog froze the page before it finished."""
    flight = Inflight(label=action)
    wake = anyio.Event()

    async def run() -> None:
        try:
            flight.result = await _execute(live, action, args)
        except BrowsaError as exc:  # the caller's mistake (an upload path): their error envelope
            flight.result = exc
        except Exception as exc:  # the page or browser failed under the action: reported, not raised
            flight.result = ActionResult(ok=False, summary=f"{action} failed", error=str(exc).splitlines()[0][:300])
        finally:
            flight.done.set()
            wake.set()

    async def dialog() -> None:
        await live.events.opened.wait()
        wake.set()

    live.tg.start_soon(run)
    async with anyio.create_task_group() as tg:
        tg.start_soon(dialog)
        await wake.wait()
        tg.cancel_scope.cancel()
    if flight.done.is_set():
        if isinstance(flight.result, BrowsaError):
            raise flight.result
        result: ActionResult = flight.result
        return result
    live.inflight = flight
    return None


async def _answer_dialog(live: LiveSession, action: str, args: dict[str, Any]) -> ActionResult:
    if live.events.dialog is None:
        raise BadRequest(f"{action}: no dialog is open")
    said = await live.events.answer(action == "accept_dialog", args.get("text"))
    flight, live.inflight = live.inflight, None
    if flight is None:
        return ActionResult(ok=True, summary=said)
    # The action that opened the dialog can finish now (or open another dialog).
    with anyio.move_on_after(live.nav_timeout_ms / 1000 + 5):
        async with anyio.create_task_group() as tg:

            async def again() -> None:
                await live.events.opened.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(again)
            await flight.done.wait()
            tg.cancel_scope.cancel()
    if not flight.done.is_set():
        if live.events.dialog is not None:
            live.inflight = flight  # another dialog: it is answered the same way
            return ActionResult(ok=True, summary=f"{said}; another dialog opened")
        return ActionResult(ok=True, summary=f"{said}; the {flight.label} that opened it is still running")
    first = flight.result
    if not isinstance(first, ActionResult):
        return ActionResult(ok=True, summary=said)
    return ActionResult(
        ok=first.ok, summary=f"{said}; then {first.summary}", error=first.error, navigated=first.navigated
    )


async def perform(live: LiveSession, action: str, args: dict[str, Any]) -> StepResult:
    """Run one action on the session and return what happened with the new observation."""
    if action not in _STEP_ACTIONS:
        raise BadRequest(f"there is no action {action[:40]!r}; act takes one of {', '.join(ACT_ACTIONS)}")
    started = time.monotonic()
    if action in ("accept_dialog", "dismiss_dialog"):
        result = await _answer_dialog(live, action, args)
    else:
        if live.events.dialog is not None:
            raise BadRequest(
                f"a dialog is open ({live.events.describe(live.events.dialog)[:200]}): answer it first with"
                " accept_dialog or dismiss_dialog"
            )
        ran = await _run_until_dialog(live, action, args)
        if ran is not None and ran.fault == "stale":
            raise BadRequest(f"{ran.error}; the page changed since the observation: use the numbers of a new one")
        if ran is not None and ran.fault is not None:
            raise BadRequest(ran.error or ran.summary)
        result = ran or ActionResult(ok=True, summary=f"{action} opened a dialog")
    await live.events.downloads_settled(_DOWNLOAD_WAIT)
    return await _finish(live, action, args, result, started)


async def _finish(
    live: LiveSession, action: str, args: dict[str, Any], result: ActionResult, started: float
) -> StepResult:
    writes, other = live.watch.take_writes(), live.watch.take_other()
    # A refused top-level navigation ends an agent task; a session goes on, on the page it was on.
    nav, live.watch.navigation = live.watch.navigation, None
    navs = [nav] if nav is not None else []
    refused = [
        Refused(url=mask_text(r.url, live.masks)[:300], rule=r.rule, method=r.method) for r in [*navs, *writes, *other]
    ]
    downloads = live.events.take_downloads()
    notes = live.events.take_notes()
    obs = await look(live)
    line = result.summary if result.ok else f"{result.summary}: {result.error}"
    if writes:
        first = writes[0]
        line += (
            f"; refused {first.method or 'a write'} {mask_text(first.url, live.masks)[:120]} (rule writes:"
            " this session has allow_writes=false, so nothing can be sent or changed; the session goes on)"
        )
    if nav is not None:
        line += (
            f"; the URL guard refused to open {mask_text(nav.url, live.masks)[:150]} (rule {nav.rule}: {nav.reason})"
        )
    if other:
        line += f"; {len(other)} request(s) refused by the URL guard ({other[0].rule})"
    for saved in downloads:
        line += f"; downloaded {saved.name} ({saved.bytes:,} bytes) to {saved.path}"
    for note in notes:
        line += f"; {note}"
    dialog = live.events.describe(live.events.dialog) if live.events.dialog is not None else None
    if dialog is not None:
        line += f"; a dialog is open: {dialog}"
    line = mask_text(line, live.masks)
    live.steps += 1
    shown_args = {k: (mask_text(v, live.masks) if isinstance(v, str) else v) for k, v in args.items()}
    data: dict[str, Any] = {
        "step": live.steps,
        "action": action,
        "args": shown_args,
        "ok": result.ok,
        "result": line[:500],
        "url": obs.url[:500],
        "act_ms": round((time.monotonic() - started) * 1000),
    }
    if refused:
        data["refused"] = [r.model_dump(exclude_none=True) for r in refused[:10]]
    if downloads:
        data["downloads"] = [d.model_dump() for d in downloads]
    moved = progress_write(live.ctx.id, live.steps, last_action=f"step {live.steps}: {line}"[:300], steps=live.steps)
    await live.ctx.write(moved, event=("step", data))
    return StepResult(
        session_id=live.id,
        ok=result.ok,
        outcome=line,
        url=obs.url,
        tabs=len(live.tabs),
        navigated=result.navigated,
        refused=refused or None,
        dialog=mask_text(dialog, live.masks) if dialog else None,
        downloads=downloads or None,
        observation=obs.text,
    )
