"""The fingerprint keeper: a DevTools connection that fingerprints every page and worker before it runs any script.

Why not Playwright's `page` event: a page opened by the CDP holder's own client is resumed by that client, and the
override would race its first navigation. The keeper auto-attaches with `waitForDebuggerOnStart`, and Chromium holds a
new target until every such client has resumed it, so the overrides and the init script are always in place first.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import anyio
from anyio.abc import TaskGroup
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mcp_browsa.browser.fingerprint import Fingerprint, native_overrides, worker_commands

__all__ = ["CdpError", "FingerprintKeeper"]

log = logging.getLogger(__name__)

_PAGES = ("page", "iframe")
_WORKERS = ("worker", "shared_worker", "service_worker")
# Browser UI targets of headed/new-headless Chromium are left alone.
_FILTER = [{"type": t} for t in (*_PAGES, *_WORKERS)]
_AUTO_ATTACH = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True, "filter": _FILTER}


class CdpError(RuntimeError):
    """A DevTools command failed (the target may simply have gone away)."""


class _Reply:
    def __init__(self) -> None:
        self.event = anyio.Event()
        self.result: dict[str, Any] | None = None
        self.error: str | None = None


class FingerprintKeeper:
    """Run `run()` in a task group for the browser's lifetime; the overrides live as long as this connection."""

    def __init__(self, ws: ClientConnection, fp: Fingerprint) -> None:
        self.ws = ws
        self.fp = fp
        self._ids = itertools.count(1)
        self._replies: dict[int, _Reply] = {}
        self._tg: TaskGroup | None = None
        self._script = fp.init_script()
        self.prepared = 0  # targets fingerprinted so far (tests and the bench read it)

    @classmethod
    async def connect(cls, ws_url: str, fp: Fingerprint) -> FingerprintKeeper:
        # proxy=None: never route a loopback DevTools connection through an HTTP(S)_PROXY from the environment.
        ws = await connect(ws_url, proxy=None, max_size=None, ping_interval=None, compression=None, open_timeout=15)
        return cls(ws, fp)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Read DevTools messages until the connection closes; started() once every target is being attached."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._read)
                await self.call("Target.setAutoAttach", _AUTO_ATTACH)
                task_status.started()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                # Closing detaches every session, which also releases any target still waiting for us.
                await self.ws.close()

    async def close(self) -> None:
        await self.ws.close()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        reply = self._replies[message["id"]] = _Reply()
        try:
            await self.ws.send(json.dumps(message))
            with anyio.fail_after(15):
                await reply.event.wait()
        except ConnectionClosed as exc:
            raise CdpError(f"{method}: DevTools connection closed") from exc
        finally:
            self._replies.pop(message["id"], None)
        if reply.error is not None:
            raise CdpError(f"{method}: {reply.error}")
        return reply.result or {}

    async def _post(self, method: str, params: dict[str, Any], session: str) -> None:
        try:
            await self.ws.send(
                json.dumps({"id": next(self._ids), "method": method, "params": params, "sessionId": session})
            )
        except ConnectionClosed as exc:
            raise CdpError(f"{method}: DevTools connection closed") from exc

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if "id" in message:
                    reply = self._replies.get(message["id"])
                    if reply is not None:
                        error = message.get("error")
                        reply.error = None if error is None else str(error.get("message", error))
                        reply.result = message.get("result")
                        reply.event.set()
                elif message.get("method") == "Target.attachedToTarget" and self._tg is not None:
                    self._tg.start_soon(self._prepare, message["params"])
        except ConnectionClosed:
            pass
        finally:
            for reply in self._replies.values():
                reply.error = reply.error or "connection closed"
                reply.event.set()
            if self._tg is not None:
                self._tg.cancel_scope.cancel()

    async def _prepare(self, params: dict[str, Any]) -> None:
        session = params["sessionId"]
        kind = params["targetInfo"]["type"]
        fp = self.fp
        if kind in _PAGES:
            identity, cores = native_overrides(fp)
            steps = [
                identity,
                ("Emulation.setLocaleOverride", {"locale": fp.locale}),
                cores,
                ("Page.enable", {}),  # addScriptToEvaluateOnNewDocument needs the Page domain
                ("Page.addScriptToEvaluateOnNewDocument", {"source": self._script, "runImmediately": True}),
                # Dedicated workers and out-of-process iframes are this page's children: hold them for us too.
                ("Target.setAutoAttach", _AUTO_ATTACH),
            ]
        else:
            steps = worker_commands(fp)
        # A held worker runs nothing, so it answers nothing until resumed: queue its commands, never await them.
        send = self.call if kind in _PAGES else self._post
        try:
            failed = 0
            for method, args in steps:
                # Each override on its own: one refused command must not leave the others unset.
                try:
                    await send(method, args, session)
                except CdpError as exc:
                    failed += 1
                    log.debug("fingerprinting a %s target: %s", kind, exc)
            if not failed:
                self.prepared += 1
        finally:
            if params.get("waitingForDebugger"):
                try:
                    await self.call("Runtime.runIfWaitingForDebugger", {}, session)
                except CdpError:
                    pass
