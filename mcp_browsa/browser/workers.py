"""Dedicated workers of a fingerprinted page: each one gets CDP commands before its first line of script runs.

Owns the hand-off that holds a new worker, queues the commands in it and lets it start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from itertools import count
from typing import Any

import anyio
from playwright.async_api import CDPSession
from playwright.async_api import Error as PlaywrightError

__all__ = ["Command", "configure_workers"]

log = logging.getLogger(__name__)

Command = tuple[str, dict[str, Any]]

# A held worker is a stalled page script; never hold one longer than this, whatever goes wrong.
_HOLD_SECONDS = 5.0


async def configure_workers(session: CDPSession, commands: Sequence[Command]) -> None:
    """Send `commands` to every dedicated worker the session's page starts, before the worker runs any script.

    A worker that a waiting auto-attach session holds starts only once every such session lets it go, whatever
    Playwright's own session does. Playwright's CDPSession drops the traffic of flattened children, so the
    commands go through a second, non-flattened session. The held worker answers them while it waits; the held
    session is dropped only once every command has been answered, so no line of the worker's script runs
    before the overrides are in. (Dropping it as soon as the commands were sent let the worker start before
    it had read them, now and then: a worker reported the bare host.) Workers started by a worker are not
    held: only a page's sessions can.
    """
    ids = count(1)

    async def on_attached(event: dict[str, Any]) -> None:
        # Our own attachToTarget reports here as well, never waiting: only a held target is ours to release.
        if not event.get("waitingForDebugger"):
            return
        info = event["targetInfo"]
        try:
            if info["type"] == "worker":
                with anyio.fail_after(_HOLD_SECONDS):
                    await _queue(session, info["targetId"], commands, ids)
        except (PlaywrightError, TimeoutError) as exc:
            log.debug("worker %s starts without its fingerprint: %s", info.get("url"), exc)
        except Exception:  # an event handler has nobody to raise to, and the worker must start regardless
            log.exception("configuring worker %s failed", info.get("url"))
        finally:
            await _release(session, event["sessionId"])

    session.on("Target.attachedToTarget", on_attached)
    try:
        await session.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True, "filter": [{"type": "worker"}]},
        )
    except PlaywrightError as exc:
        log.debug("workers keep the host's navigator: %s", exc)


async def _queue(session: CDPSession, target_id: str, commands: Sequence[Command], ids: Iterator[int]) -> None:
    """Send `commands` to the held worker and return once it has answered each one (a failed command included)."""
    attached = await session.send("Target.attachToTarget", {"targetId": target_id, "flatten": False})
    child = attached["sessionId"]
    messages = [(next(ids), method, params) for method, params in [*commands, ("Runtime.runIfWaitingForDebugger", {})]]
    waiting = {message_id for message_id, _, _ in messages}
    answered = anyio.Event()

    def on_message(event: dict[str, Any]) -> None:
        if event.get("sessionId") != child:
            return
        reply = json.loads(event.get("message") or "{}")
        if "error" in reply:
            log.debug("worker %s refused a fingerprint command: %s", target_id, reply["error"])
        waiting.discard(reply.get("id", -1))
        if not waiting:
            answered.set()

    session.on("Target.receivedMessageFromTarget", on_message)
    try:
        # The resume makes the worker run even when no other client attached to it; the session itself stays,
        # as overrides die with it.
        for message_id, method, params in messages:
            message = json.dumps({"id": message_id, "method": method, "params": params})
            await session.send("Target.sendMessageToTarget", {"sessionId": child, "message": message})
        await answered.wait()
    finally:
        session.remove_listener("Target.receivedMessageFromTarget", on_message)


async def _release(session: CDPSession, held: str) -> None:
    try:
        await session.send("Target.detachFromTarget", {"sessionId": held})
    except PlaywrightError:
        pass  # the worker, its page or the browser is gone already
