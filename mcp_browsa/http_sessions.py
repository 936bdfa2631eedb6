"""Streamable HTTP sessions with a cap: in all, per API key, the oldest idle one making room for a new one.

The SDK's session manager keeps every stateful session (about 40 KB of server state each) until its idle timeout,
30 minutes by default, and refuses new ones only past 10,000: a client calling `initialize` in a loop grows the
server without bound. Here a new session beyond `per_key` sessions of its key, or `total` sessions in all, first
ends the session that has been idle longest (of that key, or of anyone); when every one is busy serving a request
or holding an event stream, the new one is refused TOO_MANY_REQUESTS with `retry_after`.

Hooked in where the SDK decides admission (`_admit_session`, called under its creation lock, so the count and
the eviction cannot race another opening request). A session's idle clock is its transport's `idle_scope`: the
SDK sets its deadline to infinity while a request is in flight, and to `now + idle timeout` when the last one ends.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mcp_browsa.auth import send_envelope
from mcp_browsa.errors import TooManyRequests, new_request_id
from mcp_browsa.server import REQUEST_ID_STATE_KEY, BrowsaServer

__all__ = ["BUSY_RETRY_AFTER", "CappedSessionManager", "SessionLimits", "streamable_http_app"]

log = logging.getLogger(__name__)

# When every session is busy, one frees up when a request ends; tool calls are kept under a minute.
BUSY_RETRY_AFTER = 10.0


@dataclass(frozen=True)
class SessionLimits:
    """BROWSA_MAX_HTTP_SESSIONS, BROWSA_MAX_HTTP_SESSIONS_PER_KEY and BROWSA_HTTP_SESSION_IDLE_SECONDS."""

    total: int = 200
    per_key: int = 20
    idle_seconds: float = 300.0


class CappedSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, admitting a session only within `limits` (see the module docstring)."""

    def __init__(self, app: Any, limits: SessionLimits, *, security_settings: TransportSecuritySettings) -> None:
        super().__init__(
            app,
            security_settings=security_settings,
            session_idle_timeout=limits.idle_seconds,
            max_sessions=None,  # ours below, with eviction, instead of the SDK's flat refusal
        )
        self.limits = limits
        self.evicted = 0

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        mine = [sid for sid in self._server_instances if self._session_owners.get(sid) == requestor]
        if len(mine) >= self.limits.per_key:
            self._make_room(mine, f"this API key has {len(mine)} sessions open, the most one key may have")
        if len(self._server_instances) >= self.limits.total:
            self._make_room(list(self._server_instances), f"the server has {self.limits.total} sessions open")
        return super()._admit_session(requestor)

    def _make_room(self, candidates: list[str], why: str) -> None:
        """End the longest-idle of `candidates`, or raise TooManyRequests when each one is in use."""
        idle = {sid: deadline for sid in candidates if (deadline := self._idle_deadline(sid)) < math.inf}
        if not idle:
            raise TooManyRequests(
                f"{why}, each one in use; close one (DELETE /mcp with its session id) or retry later",
                retry_after=BUSY_RETRY_AFTER,
            )
        victim = min(idle, key=idle.__getitem__)
        transport = self._server_instances.pop(victim)
        self._session_owners.pop(victim, None)
        self.evicted += 1
        log.info("HTTP session %s closed to make room: %s", victim[:12], why)
        # Ends its server task as the idle timeout would; the SDK then terminates the transport, and the id
        # answers 404 from now on, since it is no longer registered.
        if transport.idle_scope is not None:
            transport.idle_scope.cancel()

    def _idle_deadline(self, session_id: str) -> float:
        """When the session's idle timeout fires: infinity while it serves a request (or has not started)."""
        scope = self._server_instances[session_id].idle_scope
        return math.inf if scope is None else scope.deadline

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super()._handle_stateful_request(scope, receive, send)
        except TooManyRequests as exc:  # raised only by _admit_session, before anything was sent
            state = scope.get("state") or {}
            request_id = state.get(REQUEST_ID_STATE_KEY) or new_request_id()
            log.warning("new HTTP session refused [%s]: %s", request_id, exc.code)
            await send_envelope(send, exc, request_id)


def streamable_http_app(
    server: BrowsaServer, limits: SessionLimits, security: TransportSecuritySettings
) -> tuple[Starlette, CappedSessionManager]:
    """The /mcp app as the SDK's `streamable_http_app` builds it (we use none of its OAuth parts), on our manager."""
    manager = CappedSessionManager(server._lowlevel_server, limits, security_settings=security)
    app = Starlette(
        routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))],
        lifespan=lambda _app: manager.run(),
    )
    return app, manager
