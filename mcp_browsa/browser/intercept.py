"""The guard's in-browser half: each page's requests that can write or navigate, checked over CDP `Fetch`.

Why not Playwright's route(): it makes Chromium send `Network.setCacheDisabled`, so every stylesheet and script
is fetched again on every page, and it brings every request of every type through this process. Here each page
gets a CDP session of its own that pauses only the request types that can carry a method or a body, or start a
navigation (documents, fetch/XHR, beacons, reports, other); images, styles, scripts and fonts never pause, go to
the proxy (which checks every host and address) and stay cacheable. Out-of-process iframes are held at birth and
given the same interception before they run; a dedicated worker's requests pause in its page's session. With
media skipped, images, media and fonts are failed in the browser before they leave it.

A page opened by a page (a popup) is attached when Playwright reports it, which is after its first navigation has
committed. Until then its requests are judged by the browser-wide hook (`browser_watch`), which sees them from the
first; it judges the pages that have their own session too, so no request falls between the two.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import anyio
from playwright.async_api import BrowserContext, CDPSession, Page, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.browser_watch import watch_browser
from mcp_browsa.browser.guard import BlockedRequest, OnBlock, ProxyLease, report_block
from mcp_browsa.netpolicy import Decision, Policy, check_url, check_websocket

__all__ = [
    "CHECKED_TYPES",
    "MEDIA_TYPES",
    "guard_page",
    "install_request_guard",
    "refuse_websockets",
    "skip_media",
]

log = logging.getLogger(__name__)

# CDP resource types that can carry a method other than GET or a body, or navigate a frame. The rest (Image,
# Media, Font, Stylesheet, Script, TextTrack, Manifest, ...) are plain GETs: the proxy judges their hosts.
CHECKED_TYPES = ("Document", "XHR", "Fetch", "Ping", "CSPViolationReport", "EventSource", "Other")
MEDIA_TYPES = ("Image", "Media", "Font")
_WEBSOCKET = "WEBSOCKET"
_HOLD_SECONDS = 5.0  # a held iframe is a stalled page; never hold one longer than this

Send = Callable[[str, dict[str, Any]], Awaitable[Any]]
# Non-flattened, so our session can speak to an iframe while it waits for us; every level holds its own iframes.
_HOLD_IFRAMES = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": False, "filter": [{"type": "iframe"}]}


@dataclass
class _ContextGuard:
    """One context's rules: where its policy comes from, and whether its pages load media."""

    policy: Policy | ProxyLease | None
    on_block: OnBlock | None
    media: bool = True
    pages: weakref.WeakKeyDictionary[Page, _PageGuard] = field(default_factory=weakref.WeakKeyDictionary)

    def forget(self, page: Page) -> None:
        self.pages.pop(page, None)

    def current(self) -> tuple[Policy | None, OnBlock | None]:
        if isinstance(self.policy, ProxyLease):
            return self.policy.policy, self.policy.on_block
        return self.policy, self.on_block

    def refusal(self, request: dict[str, Any]) -> Decision | None:
        """The guard's refusal of a paused `request`, or None when it may go on."""
        policy = self.current()[0]
        if policy is None or _answered_in_browser(request["url"]):
            return None
        has_body = bool(request.get("hasPostData") or request.get("postData"))
        decision = check_url(request["url"], policy, method=request["method"], has_body=has_body)
        return None if decision.allowed else decision

    def patterns(self) -> list[dict[str, str]]:
        types: tuple[str, ...] = CHECKED_TYPES if self.policy is not None else ()
        types += () if self.media else MEDIA_TYPES
        return [{"resourceType": t, "requestStage": "Request"} for t in types]


_guards: weakref.WeakKeyDictionary[BrowserContext, _ContextGuard] = weakref.WeakKeyDictionary()
# For the browser-wide hook, which knows a request's page by CDP ids only; filled as each page's session starts.
_by_browser_context: weakref.WeakValueDictionary[str, _ContextGuard] = weakref.WeakValueDictionary()
_by_target: weakref.WeakValueDictionary[str, _PageGuard] = weakref.WeakValueDictionary()


def _blocked(event: dict[str, Any], decision: Decision, navigation: bool, page: Page | None) -> BlockedRequest:
    request = event["request"]
    return BlockedRequest(request["url"], decision.rule, decision.reason, request["method"], "route", navigation, page)


def _judge_in_browser(target: dict[str, Any], event: dict[str, Any]) -> bool:
    """The browser-wide hook's verdict on a request of a page's main frame, by the page's context's guard.

    A page with a session of its own is named, and its main-frame documents are navigations, as its session says; a
    page that has none yet (a popup on its first load) is no tab of ours, and what it was refused moved no tab.
    """
    guard = _by_browser_context.get(target.get("browserContextId", ""))
    decision = guard.refusal(event["request"]) if guard is not None else None
    if guard is None or decision is None:
        return True
    page_guard = _by_target.get(target["targetId"])
    page = page_guard.page if page_guard is not None else None
    navigation = page is not None and event.get("resourceType") == "Document"
    report_block(guard.current()[1], _blocked(event, decision, navigation, page))
    return False


def _answered_in_browser(url: str) -> bool:
    """A `.invalid` name never resolves (RFC 6761), so no request to one reaches a network: only a page route
    (the trust probe's) can answer it, and Playwright's route pauses after this hook."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return False
    return host.endswith(".invalid")


class _PageGuard:
    """The CDP session of one page, and the out-of-process iframes held and attached through it."""

    def __init__(self, guard: _ContextGuard, page: Page) -> None:
        self.guard = guard
        self.page = page
        self.session: CDPSession | None = None
        self.ready = anyio.Event()
        self.failed: BaseException | None = None
        self._ids = count(1)
        self._frames: dict[tuple[str, ...], str] = {}  # session path -> target id of each iframe we attached
        self._replies: dict[int, anyio.Event] = {}
        self._main_frame: str | None = None

    async def start(self) -> None:
        try:
            self.session = session = await self.page.context.new_cdp_session(self.page)
            session.on("Fetch.requestPaused", self._on_paused)
            session.on("Target.attachedToTarget", self._on_attached)
            session.on("Target.detachedFromTarget", self._on_detached)
            session.on("Target.receivedMessageFromTarget", self._on_child_message)
            await session.send("Fetch.enable", {"patterns": self.guard.patterns()})
            await session.send("Target.setAutoAttach", _HOLD_IFRAMES)
            info = (await session.send("Target.getTargetInfo"))["targetInfo"]
            self._main_frame = info["targetId"]  # a page target's id is its main frame's id
            _by_target[info["targetId"]] = self
            if info.get("browserContextId"):
                _by_browser_context[info["browserContextId"]] = self.guard
        except PlaywrightError as exc:
            if not self.page.is_closed():
                self.failed = exc  # fail closed: the page must not load unguarded
                raise
            log.debug("request guard not attached to a page closed meanwhile: %s", exc)
        finally:
            self.ready.set()

    async def update(self) -> None:
        """Send the context's current patterns again (media skipped or loaded) to the page and its iframes."""
        if self.session is None:
            return
        params = {"patterns": self.guard.patterns()}
        try:
            await self.session.send("Fetch.enable", params)
            for path in list(self._frames):
                await self._to(path, "Fetch.enable", params)
        except PlaywrightError:
            pass  # the page closed meanwhile

    # -- requests --------------------------------------------------------------------------------------

    async def _on_paused(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        await self._decide(self.session.send, event, None)

    async def _decide(self, send: Send, event: dict[str, Any], frame_target: str | None) -> None:
        request_id = event["requestId"]
        try:
            if event.get("resourceType") in MEDIA_TYPES and not self.guard.media:
                await send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
                return
            decision = None if event.get("resourceType") in MEDIA_TYPES else self.guard.refusal(event["request"])
            if decision is None:
                await send("Fetch.continueRequest", {"requestId": request_id})
                return
            navigation = frame_target is None and event.get("resourceType") == "Document"
            navigation = navigation and event.get("frameId") == await self._main_frame_id()
            report_block(self.guard.current()[1], _blocked(event, decision, navigation, self.page))
            await send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
        except PlaywrightError:
            pass  # the page or context went away while the request was paused
        except Exception:
            log.exception("request guard failed on %s", event.get("request", {}).get("url"))

    async def _main_frame_id(self) -> str | None:
        # A page target's id is its main frame's id.
        if self._main_frame is None and self.session is not None:
            info = await self.session.send("Target.getTargetInfo")
            self._main_frame = info["targetInfo"]["targetId"]
        return self._main_frame

    # -- out-of-process iframes ------------------------------------------------------------------------
    # Each is reached through the sessions above it: a path of session ids, the page's child first.

    async def _on_attached(self, event: dict[str, Any]) -> None:
        await self._attach((event["sessionId"],), event)

    async def _on_detached(self, event: dict[str, Any]) -> None:
        self._forget((event.get("sessionId", ""),))

    def _forget(self, path: tuple[str, ...]) -> None:
        for known in [p for p in self._frames if p[: len(path)] == path]:
            del self._frames[known]

    async def _attach(self, path: tuple[str, ...], event: dict[str, Any]) -> None:
        """Give a held iframe the page's interception, and its own iframes the same hold, then let it run."""
        info = event["targetInfo"]
        if info.get("type") != "iframe":
            return
        self._frames[path] = info["targetId"]
        try:
            with anyio.fail_after(_HOLD_SECONDS):
                await self._to(path, "Fetch.enable", {"patterns": self.guard.patterns()})
                await self._to(path, "Target.setAutoAttach", _HOLD_IFRAMES)
        except (PlaywrightError, TimeoutError) as exc:
            log.debug("iframe %s not intercepted: %s", info.get("url"), exc)
        finally:
            if event.get("waitingForDebugger"):
                try:
                    await self._to(path, "Runtime.runIfWaitingForDebugger", {}, wait=False)
                except PlaywrightError:
                    pass  # the frame or its page is gone

    async def _to(self, path: tuple[str, ...], method: str, params: dict[str, Any], *, wait: bool = True) -> None:
        """Send one command to the iframe at `path`; with `wait`, return once it has answered."""
        assert self.session is not None
        message_id = next(self._ids)
        answered = self._replies[message_id] = anyio.Event()
        message = json.dumps({"id": message_id, "method": method, "params": params})
        for inner in reversed(path[1:]):  # wrapped once for each session between the page's child and the frame
            wrapped = {"sessionId": inner, "message": message}
            message = json.dumps({"id": next(self._ids), "method": "Target.sendMessageToTarget", "params": wrapped})
        try:
            await self.session.send("Target.sendMessageToTarget", {"sessionId": path[0], "message": message})
            if wait:
                await answered.wait()
        finally:
            self._replies.pop(message_id, None)

    async def _on_child_message(self, event: dict[str, Any]) -> None:
        await self._incoming((event.get("sessionId", ""),), json.loads(event.get("message") or "{}"))

    async def _incoming(self, path: tuple[str, ...], message: dict[str, Any]) -> None:
        if path not in self._frames:
            return
        if "id" in message:
            answered = self._replies.get(message["id"])
            if answered is not None:
                answered.set()
            return
        method, params = message.get("method"), message.get("params") or {}
        if method == "Target.receivedMessageFromTarget":
            await self._incoming((*path, params.get("sessionId", "")), json.loads(params.get("message") or "{}"))
        elif method == "Target.attachedToTarget":
            await self._attach((*path, params["sessionId"]), params)
        elif method == "Target.detachedFromTarget":
            self._forget((*path, params.get("sessionId", "")))
        elif method == "Fetch.requestPaused":

            async def send(name: str, args: dict[str, Any]) -> None:
                await self._to(path, name, args, wait=False)

            await self._decide(send, params, self._frames[path])


async def install_request_guard(
    context: BrowserContext, policy: Policy | ProxyLease | None, on_block: OnBlock | None = None
) -> None:
    """Check every page's navigations and write-capable requests in `context` against the guard policy.

    Given a ProxyLease, the lease's current policy and on_block are read at each request, so a warm context made
    ahead of time gets the job's policy at hand-over. Pages opened by our own code should `await guard_page(page)`
    before their first navigation; every other page is attached as Playwright reports it.
    """
    guard = _guards.get(context)
    if guard is None:
        _guards[context] = guard = _ContextGuard(policy, on_block)
        context.on("page", _on_page)
        # Each page guard holds its page, and so the context: the entries go when they close, not by weak reference.
        context.on("close", _forget_context)
    else:
        guard.policy, guard.on_block = policy, on_block
    if context.browser is not None:
        await watch_browser(context.browser, CHECKED_TYPES, _judge_in_browser)
    for page in context.pages:
        await guard_page(page)


async def skip_media(context: BrowserContext) -> None:
    """Fail image, media and font requests in `context` from now on, in the browser: they reach no network."""
    guard = _guards.get(context)
    if guard is None:
        await install_request_guard(context, None)
        guard = _guards[context]
    guard.media = False
    for page_guard in list(guard.pages.values()):
        await page_guard.ready.wait()
        await page_guard.update()


async def guard_page(page: Page) -> None:
    """Attach the context's request guard to `page`, once; returns when its interception is on."""
    guard = _guards.get(page.context)
    if guard is None:
        return
    page_guard = guard.pages.get(page)
    if page_guard is None:
        guard.pages[page] = page_guard = _PageGuard(guard, page)
        page.on("close", guard.forget)
        await page_guard.start()
    else:
        await page_guard.ready.wait()
        if page_guard.failed is not None:
            raise page_guard.failed


def _forget_context(context: BrowserContext) -> None:
    _guards.pop(context, None)


async def _on_page(page: Page) -> None:
    try:
        await guard_page(page)
    except Exception:  # an event handler has nobody to raise to; a page that cannot be guarded is closed
        log.exception("attaching the request guard to a new page failed; closing it")
        try:
            await page.close()
        except PlaywrightError:
            pass


async def refuse_websockets(
    context: BrowserContext, policy: Policy | ProxyLease, on_block: OnBlock | None = None
) -> None:
    """Close every WebSocket a page or frame of a read-only context opens, before it connects; each is a blocked write.

    Read-only means no WebSockets at all: once open, a socket carries whatever the page sends, past any method
    check. The proxy refuses plain ws:// itself, but wss:// is a TLS tunnel it cannot tell from HTTPS, so pages get
    Playwright's WebSocket stand-in here, which also refuses denied hosts with their own rule first. Install it on
    read-only contexts only: the stand-in relays every message through this process and shows the page a binding,
    a cost no writable job should pay.
    """

    async def refuse(ws: WebSocketRoute) -> None:
        current, report_to = (policy.policy, policy.on_block) if isinstance(policy, ProxyLease) else (policy, on_block)
        decision = check_websocket(ws.url, current)
        if decision.allowed:
            ws.connect_to_server()
            return
        report_block(report_to, BlockedRequest(ws.url, decision.rule, decision.reason, _WEBSOCKET, "route"))
        await ws.close(code=1008, reason=f"refused by the URL guard ({decision.rule})")

    await context.route_web_socket("**", refuse)
