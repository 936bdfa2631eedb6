"""The actions the model can take, performed on the active tab (their tool specs are `engine/action_specs.py`).

Each action resolves its element with one locator, and then waits (bounded) for what it set off:
a navigation, requests, a new tab.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from mcp_browsa.engine.action_specs import ACTION_NAMES, ACTION_SPECS, LOOP_ACTIONS, SECRET_PATTERN
from mcp_browsa.engine.activity import EXPECTING_GRACE, GRACE, Activity, short_url
from mcp_browsa.engine.observation import ElementRef, Observation, PageUnreadable, mask_text, read_page
from mcp_browsa.engine.page_scripts import SCROLL_JS, covered
from mcp_browsa.engine.tabs import Tabs
from mcp_browsa.workspace_secrets import SecretNotAllowed

__all__ = ["ActionResult", "execute"]


@functools.cache
def _validator(name: str) -> Any:
    """The JSON Schema validator of one action's arguments, built (and jsonschema loaded) when first needed."""
    import jsonschema

    return jsonschema.Draft202012Validator(next(s["parameters"] for s in ACTION_SPECS if s["name"] == name))


_ACT_TIMEOUT_MS = 2500  # actionability wait; a covered element is retried through script instead
_HIDE_VALUE_JS = "el => el.style.setProperty('-webkit-text-security', 'disc', 'important')"


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    summary: str  # a few words for the step log and the model, e.g. "clicked [4] <a> Wireless Earbuds X"
    error: str | None = None  # what went wrong, phrased so the model can act on it
    navigated: bool = False  # the active page's URL changed or another tab became active
    extracted: str | None = None  # read_page text
    # Why it failed when the caller, not the page, is at fault: "input" (no such action, bad arguments or index)
    # or "stale" (the element listed is no longer there). Host-driven sessions answer these with BAD_REQUEST.
    fault: str | None = None


@dataclass
class _Call:
    tabs: Tabs
    obs: Observation
    nav_timeout: float  # seconds
    resolve_secret: Callable[[str], str] | None
    masks: tuple[str, ...]
    revealed: list[str]  # secret values filled during this call, masked out of whatever is returned


def _fail(summary: str, error: str, fault: str | None = None) -> ActionResult:
    return ActionResult(ok=False, summary=summary, error=error, fault=fault)


def _reason(exc: PlaywrightError) -> str:
    """First line of a Playwright error, without the API name, plus the cause from its call log."""
    text = str(exc.message if hasattr(exc, "message") else exc)
    first = re.sub(r"^[A-Za-z]+\.[A-Za-z_]+: ", "", text.strip().splitlines()[0] if text.strip() else "error")
    if "intercepts pointer events" in text:
        first += " (another element covers it)"
    elif "element is not visible" in text:
        first += " (element is not visible)"
    elif "element is not enabled" in text:
        first += " (element is disabled)"
    return first[:300]


def _element(call: _Call, index: int) -> ElementRef | ActionResult:
    ref = call.obs.elements.get(index)
    if ref is None:
        count = call.obs.element_count
        where = f"indices go 1..{count}" if count else "it has no interactive elements"
        return _fail(f"no element [{index}]", f"no element [{index}] on this page; {where}", "input")
    if ref.frame.is_detached() or ref.frame.page is not call.tabs.active:
        return _fail(
            f"[{index}] is gone", f"element [{index}] is no longer on the active page; look at the new page", "stale"
        )
    return ref


async def _locate(ref: ElementRef) -> Locator | ActionResult:
    loc = ref.frame.locator(ref.selector).first
    if await loc.count() == 0:
        return _fail(
            f"[{ref.index}] is gone",
            f"element [{ref.index}] is no longer on the page (it changed since it was listed)",
            "stale",
        )
    return loc


async def _target(call: _Call, args: dict[str, Any]) -> tuple[ElementRef, Locator] | ActionResult:
    ref = _element(call, args["index"])
    if isinstance(ref, ActionResult):
        return ref
    loc = await _locate(ref)
    return loc if isinstance(loc, ActionResult) else (ref, loc)


async def _navigate(call: _Call, args: dict[str, Any]) -> ActionResult:
    url = args["url"].strip()
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:(?!\d)", url):  # no scheme ("host:8080/x" has none either)
        url = "https://" + url.lstrip("/")
    if urlsplit(url).scheme not in ("http", "https"):
        return _fail("navigate refused", f"only http and https URLs can be opened, not {url[:80]!r}")
    page = call.tabs.active
    try:
        response = await page.goto(url, wait_until="domcontentloaded", timeout=call.nav_timeout * 1000)
    except PlaywrightError as exc:
        return _fail(f"could not open {url[:100]}", _reason(exc))
    status = f" (HTTP {response.status})" if response is not None and response.status >= 400 else ""
    return ActionResult(ok=True, summary=f"opened {page.url[:200]}{status}", navigated=True)


def _leads_somewhere(ref: ElementRef) -> bool:
    """A link to another document: worth waiting for its navigation or tab to start."""
    href = ref.attrs.get("href")
    return ref.tag == "a" and isinstance(href, str) and not href.startswith(("#", "javascript:"))


async def _click(call: _Call, args: dict[str, Any]) -> ActionResult:
    found = await _target(call, args)
    if isinstance(found, ActionResult):
        return found
    ref, loc = found
    if ref.attrs.get("disabled"):
        return _fail(f"{ref.describe()} is disabled", f"{ref.describe()} is disabled; complete the form first")
    note = ""
    with Activity(call.tabs) as act:
        try:
            await loc.click(timeout=_ACT_TIMEOUT_MS)
        except PlaywrightError as exc:
            reason = _reason(exc)
            # Playwright names the overlay in its log only if it got that far before the timeout; on a busy
            # machine it may not have, so the page is asked what sits on the element's centre.
            if "covers" not in reason and "not visible" not in reason and not await covered(loc, _ACT_TIMEOUT_MS):
                return _fail(f"could not click {ref.describe()}", reason)
            # An overlay or a styled proxy sits on top; the element itself still takes a click from script.
            try:
                await loc.evaluate("el => el.click()")
            except PlaywrightError as again:
                if "context was destroyed" not in again.message:  # destroyed = the click navigated away
                    return _fail(f"could not click {ref.describe()}", reason)
            note = " (by script: it was covered)"
        await act.settle(call.nav_timeout, EXPECTING_GRACE if _leads_somewhere(ref) else GRACE)
    return ActionResult(ok=True, summary=f"clicked {ref.describe()}{note}{act.describe()}", navigated=act.navigated)


def _fill_secrets(call: _Call, text: str) -> str | ActionResult:
    names = SECRET_PATTERN.findall(text)
    if not names:
        return text
    if call.resolve_secret is None:
        return _fail("no secrets available", "this task has no stored secrets; ask_human for the value")
    values: dict[str, str] = {}
    for name in names:
        try:
            values[name] = call.resolve_secret(name)
        except SecretNotAllowed as exc:
            return _fail(f"secret {name} refused", exc.message)
        except Exception:
            return _fail(f"unknown secret {name}", f"there is no secret named {name}")
    call.revealed.extend(values.values())
    return SECRET_PATTERN.sub(lambda m: values[m.group(1)], text)


async def _type(call: _Call, args: dict[str, Any]) -> ActionResult:
    found = await _target(call, args)
    if isinstance(found, ActionResult):
        return found
    ref, loc = found
    if ref.tag == "select":
        return _fail(f"{ref.describe()} is a dropdown", f"{ref.describe()} is a dropdown; use select", "input")
    value = _fill_secrets(call, args["text"])
    if isinstance(value, ActionResult):
        return value
    shown = args["text"] if len(args["text"]) <= 60 else args["text"][:59] + "…"
    summary = f'typed "{shown}" into {ref.describe()}'
    try:
        await loc.fill(value, timeout=_ACT_TIMEOUT_MS)
        if value != args["text"]:
            # A field holding a vault value draws it as dots, so no screenshot can show it.
            await loc.evaluate(_HIDE_VALUE_JS)
    except PlaywrightError as exc:
        return _fail(f"could not type into {ref.describe()}", _reason(exc))
    if not args.get("submit"):
        return ActionResult(ok=True, summary=summary)
    with Activity(call.tabs) as act:
        await loc.press("Enter", timeout=_ACT_TIMEOUT_MS)
        await act.settle(call.nav_timeout, EXPECTING_GRACE)
    return ActionResult(ok=True, summary=f"{summary} and pressed Enter{act.describe()}", navigated=act.navigated)


async def _select(call: _Call, args: dict[str, Any]) -> ActionResult:
    found = await _target(call, args)
    if isinstance(found, ActionResult):
        return found
    ref, loc = found
    if ref.tag != "select":
        return _fail(
            f"{ref.describe()} is not a dropdown", f"{ref.describe()} is not a <select>; click it instead", "input"
        )
    options: list[list[str]] = await loc.evaluate("s => Array.from(s.options, o => [o.value, o.label || o.text])")
    want = args["option"].strip().casefold()
    labels = [" ".join(label.split()).casefold() for _value, label in options]
    values = [value.casefold() for value, _label in options]
    matches = [i for i, label in enumerate(labels) if label == want] or [i for i, v in enumerate(values) if v == want]
    matches = matches or [i for i, label in enumerate(labels) if want and want in label]
    if len(matches) != 1:
        listing = " | ".join(label for _value, label in options[:20])
        problem = "matches several options" if matches else "is not an option"
        message = f"{args['option']!r} {problem} of {ref.describe()}: {listing}"
        return _fail(f"no option {args['option']!r}", message, "input")
    with Activity(call.tabs) as act:
        await loc.select_option(index=matches[0], timeout=_ACT_TIMEOUT_MS)
        await act.settle(call.nav_timeout)
    label = options[matches[0]][1]
    return ActionResult(
        ok=True, summary=f'selected "{label}" in {ref.describe()}{act.describe()}', navigated=act.navigated
    )


async def _press(call: _Call, args: dict[str, Any]) -> ActionResult:
    with Activity(call.tabs) as act:
        try:
            await call.tabs.active.keyboard.press(args["key"])
        except PlaywrightError as exc:
            return _fail(f"could not press {args['key']}", _reason(exc))
        # Enter usually submits, as type(submit=true) does: a busy host may take longer than GRACE to start that.
        await act.settle(call.nav_timeout, EXPECTING_GRACE if args["key"] == "Enter" else GRACE)
    return ActionResult(ok=True, summary=f"pressed {args['key']}{act.describe()}", navigated=act.navigated)


async def _scroll(call: _Call, args: dict[str, Any]) -> ActionResult:
    amount = float(args.get("amount", 1.0))
    sign = -1 if args["direction"] == "up" else 1
    with Activity(call.tabs) as act:
        before, after, height, view = await call.tabs.active.evaluate(SCROLL_JS, sign * amount)
        await act.settle(call.nav_timeout)  # lazy loaders fetch more as the page moves
    where = f"{round(100 * after / max(1, height - view))}% of {height / max(1, view):.1f} screens"
    if height <= view + 1:
        return ActionResult(ok=True, summary="did not move: the page fits on one screen")
    if abs(after - before) < 1:
        edge = "top" if sign < 0 else "bottom"
        return ActionResult(ok=True, summary=f"did not move: already at the {edge} ({where})")
    return ActionResult(ok=True, summary=f"scrolled {args['direction']} {amount:g} screen(s), now at {where}")


async def _go_back(call: _Call, args: dict[str, Any]) -> ActionResult:
    page = call.tabs.active
    before = page.url
    try:
        await page.go_back(wait_until="domcontentloaded", timeout=call.nav_timeout * 1000)
    except PlaywrightError as exc:
        return _fail("could not go back", _reason(exc))
    if page.url == before:
        return _fail("could not go back", "there is no previous page in this tab")
    return ActionResult(ok=True, summary=f"went back to {short_url(page.url, before)}", navigated=True)


async def _switch_tab(call: _Call, args: dict[str, Any]) -> ActionResult:
    try:
        page = await call.tabs.switch(args["tab"])
    except IndexError as exc:
        return _fail(f"no tab {args['tab']}", str(exc))
    return ActionResult(ok=True, summary=f"switched to tab {args['tab']}: {page.url[:200]}", navigated=True)


async def _wait(call: _Call, args: dict[str, Any]) -> ActionResult:
    seconds = float(args["seconds"])
    await anyio.sleep(seconds)
    return ActionResult(ok=True, summary=f"waited {seconds:g}s")


async def _read_page(call: _Call, args: dict[str, Any]) -> ActionResult:
    text = await read_page(call.tabs, mask_values=call.masks)
    return ActionResult(ok=True, summary=f"read the page ({len(text)} chars)", extracted=text)


_HANDLERS: dict[str, Callable[[_Call, dict[str, Any]], Awaitable[ActionResult]]] = {
    "navigate": _navigate,
    "click": _click,
    "type": _type,
    "select": _select,
    "press": _press,
    "scroll": _scroll,
    "go_back": _go_back,
    "switch_tab": _switch_tab,
    "wait": _wait,
    "read_page": _read_page,
}


def _coerce(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Forgive what models commonly send: "4" or "[4]" for 4, "true" for true, unknown extra keys."""
    props: dict[str, Any] = next(s for s in ACTION_SPECS if s["name"] == name)["parameters"]["properties"]
    out: dict[str, Any] = {}
    for key, value in args.items():
        kind = props.get(key, {}).get("type")
        if kind is None:
            continue
        if kind == "integer" and isinstance(value, str) and value.strip(" []").lstrip("-").isdigit():
            value = int(value.strip(" []"))
        elif kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif kind == "number" and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        elif kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        out[key] = value
    if name == "wait" and isinstance(out.get("seconds"), (int, float)):
        out["seconds"] = min(10.0, max(0.0, float(out["seconds"])))  # a long wait is a shorter wait, not an error
    return out


async def execute(
    tabs: Tabs,
    obs: Observation,
    name: str,
    args: dict[str, Any],
    *,
    resolve_secret: Callable[[str], str] | None = None,
    nav_timeout_ms: int = 15000,
    mask_values: Collection[str] | None = None,
) -> ActionResult:
    """Perform browser action `name` against the page `obs` was taken from.

    Bad arguments and vanished elements come back as ok=False with a message for the model; only
    `ask_human` and `done` raise ValueError, because the loop, not the browser, answers them.
    Summaries and errors are masked with `mask_values` (default: the observation's) and any secret filled.
    """
    if name in LOOP_ACTIONS:
        raise ValueError(f"{name} is handled by the agent loop, not executed in the browser")
    handler = _HANDLERS.get(name)
    if handler is None:
        known = ", ".join(n for n in ACTION_NAMES)
        return _fail(f"unknown action {name[:40]}", f"there is no action {name[:40]!r}; use one of {known}", "input")
    args = _coerce(name, args if isinstance(args, dict) else {})
    problems = sorted(_validator(name).iter_errors(args), key=lambda e: list(e.path))
    if problems:
        where = ".".join(str(p) for p in problems[0].path)
        message = f"{name}: {where + ': ' if where else ''}{problems[0].message}"
        return _fail(f"bad arguments for {name}", message, "input")
    masks = tuple(obs.mask_values if mask_values is None else mask_values)
    call = _Call(tabs, obs, nav_timeout_ms / 1000, resolve_secret, masks, [])
    try:
        result = await handler(call, args)
    except PlaywrightError as exc:
        result = _fail(f"{name} failed", _reason(exc))
    except PageUnreadable as exc:
        result = _fail(f"{name} failed", str(exc))
    masks = (*masks, *call.revealed)
    if not masks:
        return result
    return ActionResult(
        ok=result.ok,
        summary=mask_text(result.summary, masks),
        error=mask_text(result.error, masks) if result.error else None,
        navigated=result.navigated,
        extracted=mask_text(result.extracted, masks) if result.extracted else result.extracted,
        fault=result.fault,
    )
