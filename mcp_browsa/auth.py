"""HTTP request security in front of /mcp and /sse: Host/Origin checks, API keys, the workspace and request id.

Every HTTP request gets a request id (the `X-Request-Id` response header, and the envelope's `request_id`); a foreign
Host or Origin is 403 and a missing, malformed or revoked key is 401, both with the error envelope as JSON.

The key is also the request's user as the MCP SDK knows one, so its transports tie a session to the key that opened
it: a session id used with another key is answered as an unknown session (404), on streamable HTTP and SSE alike.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_browsa.errors import BrowsaError, Forbidden, new_request_id
from mcp_browsa.server import ADMIN_STATE_KEY, REQUEST_ID_STATE_KEY, WORKSPACE_STATE_KEY, current_workspace
from mcp_browsa.storage.keys import ApiKeyRepo
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE

__all__ = ["REQUEST_ID_HEADER", "HttpSecurity", "presented_key", "send_envelope"]

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"


def presented_key(headers: Headers) -> str | None:
    """The key from `X-API-Key`, else from `Authorization: Bearer …`; None when neither is sent."""
    key = headers.get("x-api-key")
    if key is not None and key.strip():
        return key.strip()
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _allowed(value: str, allowed: Iterable[str]) -> bool:
    # Same matching as the SDK's transport security: exact, or "base:*" for any port.
    return any(value == a or (a.endswith(":*") and value.startswith(a[:-1])) for a in allowed)


class HttpSecurity:
    """ASGI middleware. `keys=None` is --no-auth: every request acts in the default workspace."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeyRepo | None, security: TransportSecuritySettings) -> None:
        self.app = app
        self.keys = keys
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        headers = Headers(scope=scope)
        try:
            self._check_origin(headers)
            workspace, admin = DEFAULT_WORKSPACE, False
            if self.keys is not None:
                owner = await self.keys.authenticate(presented_key(headers))
                workspace, admin = owner.workspace_id, owner.admin
                # The key's id, never the key: the SDK keeps this for as long as the session lives.
                scope["user"] = AuthenticatedUser(AccessToken(token=owner.key_id, client_id=owner.key_id, scopes=[]))
        except BrowsaError as exc:
            log.warning("%s %s refused [%s]: %s %s", scope["method"], scope["path"], request_id, exc.code, exc.message)
            await send_envelope(send_with_id, exc, request_id)
            return
        state = scope.setdefault("state", {})
        state[WORKSPACE_STATE_KEY] = workspace
        state[ADMIN_STATE_KEY] = admin
        state[REQUEST_ID_STATE_KEY] = request_id
        token = current_workspace.set(workspace)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_workspace.reset(token)

    def _check_origin(self, headers: Headers) -> None:
        """DNS rebinding: a page elsewhere must not reach this server through a name that resolves to it."""
        if not self.security.enable_dns_rebinding_protection:
            return
        host = headers.get("host")
        if not host or not _allowed(host, self.security.allowed_hosts):
            raise Forbidden(f"Host {str(host)[:100]!r} is not served here; connect to the address the server bound")
        origin = headers.get("origin")
        if origin and not _allowed(origin, self.security.allowed_origins):
            raise Forbidden(f"requests from Origin {origin[:100]!r} are not allowed")


async def send_envelope(send: Send, err: BrowsaError, request_id: str) -> None:
    """`err` as an HTTP response: its status, the envelope as JSON, and the headers its status calls for."""
    body = json.dumps(err.envelope(request_id), ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    if err.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mcp-browsa"'))
    retry_after = err.context.get("retry_after")
    if isinstance(retry_after, (int, float)):
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode("ascii")))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
