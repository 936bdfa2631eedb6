"""One person watching a live view over a WebSocket: frames and page state out, control and input in.

Messages are JSON objects with a `t` field. Out: `hello`, `frame`, `page`, `status`, `control`, `ended`, `error`.
In: `control` (take or hand back), `mouse`, `wheel`, `key`, `text` (only from the viewer holding control),
`answer` (the job's question), `view` (another browser of a fanout or a batch). What is not understood is
answered with `error` and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from starlette.websockets import WebSocket, WebSocketDisconnect

from mcp_browsa.engine.observation import mask_text
from mcp_browsa.live.keys import key_events
from mcp_browsa.live.registry import LiveTarget, View
from mcp_browsa.live.screencast import Frame, Screencast

__all__ = ["Viewer"]

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 0.25  # how often the active tab and its URL are looked at
STATUS_SECONDS = 5.0
MAX_MESSAGE = 64 * 1024
_BUTTONS = ("left", "middle", "right")


class Viewer:
    def __init__(self, ws: WebSocket, target: LiveTarget, key: str | None, alive: Callable[[], bool]) -> None:
        self.ws = ws
        self.target = target
        self.alive = alive
        self.key = key
        self.view: View | None = None
        self.cast: Screencast | None = None
        self._send_lock = anyio.Lock()
        self._scope = anyio.CancelScope()
        self._switch = anyio.Event()  # set: show another view
        self._poke = anyio.Event()  # set: look at the page state now (control changed)

    async def run(self) -> None:
        self.target.watchers += 1
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                tg.start_soon(self._follow)
                tg.start_soon(self._status)
                await self._receive()
                if self.cast is not None and self.view is not None and self.view.takeover.holder is self:
                    await self.cast.settle()  # a viewer that leaves holding control hands back what it typed too
                tg.cancel_scope.cancel()
        finally:
            self.target.watchers -= 1
            if self.view is not None:
                await self.view.takeover.hand_back(self)

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            try:
                await self.ws.send_text(json.dumps(message, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._scope.cancel()  # the viewer went away: everything this connection does stops

    # -- out: frames, the page, the job -----------------------------------------------------------------------

    async def _follow(self) -> None:
        """Stream the chosen view's active tab, moving to another tab or view when that changes."""
        while True:
            if not self.alive():
                await self.send({"t": "ended"})
                with contextlib.suppress(RuntimeError, OSError):
                    await self.ws.close(4410)
                return
            view = self.target.pick(self.key)
            if view is None:  # between a batch's rows, say
                await anyio.sleep(FOLLOW_SECONDS)
                continue
            if view is not self.view and self.view is not None:
                await self.view.takeover.hand_back(self)
            self.view = view
            try:
                page = view.tabs.active
            except RuntimeError:  # no tab open at the moment
                await anyio.sleep(FOLLOW_SECONDS)
                continue
            await self._stream(view, page)

    async def _stream(self, view: View, page: Page) -> None:
        async with anyio.create_task_group() as tg:
            cast = Screencast(page, masks=view.masks, send=self._frame)
            try:
                await cast.start(tg)
            except PlaywrightError as exc:
                log.info("live view cannot stream a page: %s", str(exc).split("\n", 1)[0])
                await cast.stop()
                tg.cancel_scope.cancel()
                await anyio.sleep(FOLLOW_SECONDS)
                return
            self.cast = cast
            shown: dict[str, Any] | None = None
            try:
                while not page.is_closed() and self.target.pick(self.key) is view and not self._switch.is_set():
                    try:
                        if view.tabs.active is not page:
                            break
                    except RuntimeError:
                        break
                    state = self._page_state(view)
                    if state != shown:
                        await self.send(state)
                        shown = state
                    with anyio.move_on_after(FOLLOW_SECONDS):
                        await self._poke.wait()
                    self._poke = anyio.Event()
            finally:
                self._switch = anyio.Event()
                self.cast = None
                await cast.stop()
                tg.cancel_scope.cancel()

    def _page_state(self, view: View) -> dict[str, Any]:
        masks = view.masks()
        pages = view.tabs.pages
        try:
            active = view.tabs.active
        except RuntimeError:
            active = None
        return {
            "t": "page",
            "url": mask_text(active.url, masks) if active is not None else "",
            "tabs": [{"url": mask_text(p.url, masks)[:300], "active": p is active} for p in pages],
            "view": view.key,
            "views": list(self.target.views),
            "control": "you" if view.takeover.holder is self else ("other" if view.takeover.held else "agent"),
        }

    async def _frame(self, frame: Frame) -> None:
        await self.send({"t": "frame", "data": frame.jpeg_b64, "w": frame.width, "h": frame.height})

    async def _status(self) -> None:
        hooks = self.target.hooks
        if hooks is None:
            return
        shown: dict[str, Any] | None = None
        while True:
            state = {"t": "status", **await hooks.describe()}
            if state != shown:
                await self.send(state)
                shown = state
            await hooks.changed(STATUS_SECONDS)

    # -- in: control and input ---------------------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            try:
                raw = await self.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                return  # closed by the viewer (KeyError: a binary message, which this page never sends)
            try:
                message = json.loads(raw) if len(raw) <= MAX_MESSAGE else None
            except ValueError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("t"), str):
                await self.send({"t": "error", "error": "not a message this page sends"})
                continue
            problem = await self._handle(message)
            if problem:
                await self.send({"t": "error", "error": problem})

    async def _handle(self, m: dict[str, Any]) -> str | None:
        kind = m["t"]
        view = self.view
        if kind == "view":
            self.key = str(m.get("key") or "")[:40] or None
            self._switch.set()
            self._poke.set()
            return None
        if kind == "answer":
            return await self._answer(m)
        if view is None:
            return "no browser is shown yet"
        if kind == "control":
            if m.get("on") is True:
                if not await view.takeover.take(self):
                    return "someone else has control"
            else:
                if self.cast is not None and view.takeover.holder is self:
                    await self.cast.settle()  # everything typed before "Hand back" is on the page when the agent looks
                await view.takeover.hand_back(self)
            self._poke.set()  # re-sends the page state, which says who has control
            return None
        if view.takeover.holder is not self:
            return "take control first"
        cast = self.cast
        if cast is None:
            return "the page is not ready"
        return await _dispatch(cast, view, m)

    async def _answer(self, m: dict[str, Any]) -> str | None:
        hooks = self.target.hooks
        text = m.get("text")
        if hooks is None or hooks.answer is None:
            return "nothing here takes an answer"
        if not isinstance(text, str) or not text.strip() or len(text) > 10_000:
            return "the answer is empty or too long"
        try:
            await hooks.answer(text, bool(m.get("secret")))
        except Exception as exc:  # a job that stopped waiting: say so, keep the view
            return str(getattr(exc, "message", exc))[:300]
        return None


def _number(m: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = m.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(name)
    return float(value)


async def _dispatch(cast: Screencast, view: View, m: dict[str, Any]) -> str | None:
    kind = m["t"]
    try:
        mods = int(_number(m, "mods")) & 15
        if kind == "mouse":
            x, y = cast.point(_number(m, "x"), _number(m, "y"))
            event = {"down": "mousePressed", "up": "mouseReleased", "move": "mouseMoved"}.get(str(m.get("kind")))
            button = str(m.get("button", "left"))
            if event is None or button not in _BUTTONS:
                return "mouse: kind is down, up or move; button left, middle or right"
            clicks = max(0, min(3, int(_number(m, "clicks", 1))))
            params = {"type": event, "x": x, "y": y, "modifiers": mods}
            if event != "mouseMoved":
                params.update(button=button, clickCount=clicks)
            if problem := await cast.dispatch("Input.dispatchMouseEvent", params):
                return problem
            if event == "mousePressed":
                view.takeover.acted("click")
        elif kind == "wheel":
            x, y = cast.point(_number(m, "x"), _number(m, "y"))
            dx = max(-5000.0, min(5000.0, _number(m, "dx")))
            dy = max(-5000.0, min(5000.0, _number(m, "dy")))
            params = {"type": "mouseWheel", "x": x, "y": y, "deltaX": dx, "deltaY": dy, "modifiers": mods}
            if problem := await cast.dispatch("Input.dispatchMouseEvent", params):
                return problem
            if not view.takeover.acts or view.takeover.acts[-1] != "scroll":
                view.takeover.acted("scroll")
        elif kind == "key":
            press = key_events(str(m.get("key", ""))[:32], str(m.get("code", ""))[:32], mods)
            if press is None:
                return "key: not a key this page can send"
            for params in press.events:
                if problem := await cast.dispatch("Input.dispatchKeyEvent", params):
                    return problem
            view.takeover.acted("typed character" if press.typed else "key press")
        elif kind == "text":
            text = m.get("text")
            if not isinstance(text, str) or not text or len(text) > 10_000:
                return "text: 1 to 10,000 characters"
            if problem := await cast.dispatch("Input.insertText", {"text": text}):
                return problem
            view.takeover.acted("pasted text")
        else:
            return f"unknown message {kind[:40]!r}"
    except (ValueError, TypeError, OverflowError) as exc:
        return f"{kind}: bad {exc}"
    return None
