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

    Playwright resumes each worker the moment it attaches, so pausing on start alone loses that race. What
    Playwright cannot release is the main-script fetch that our own waiting, flattened auto-attach session
    holds. Playwright's CDPSession drops the traffic of flattened children, so the commands go through a
    second, non-flattened session; once they are queued the held session is dropped and the worker starts
    with them already in its inbox. Workers started by a worker are not held: only a page's sessions can.
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
    attached = await session.send("Target.attachToTarget", {"targetId": target_id, "flatten": False})
    child = attached["sessionId"]
    # A held worker answers nothing until it starts, so send without waiting for replies. The resume makes the
    # worker run even when no other client attached to it; the session itself stays, as overrides die with it.
    for method, params in [*commands, ("Runtime.runIfWaitingForDebugger", {})]:
        message = json.dumps({"id": next(ids), "method": method, "params": params})
        await session.send("Target.sendMessageToTarget", {"sessionId": child, "message": message})


async def _release(session: CDPSession, held: str) -> None:
    try:
        await session.send("Target.detachFromTarget", {"sessionId": held})
    except PlaywrightError:
        pass  # the worker, its page or the browser is gone already
