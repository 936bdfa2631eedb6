"""The BrowsaError tree: every expected failure, with its public code and an HTTP-like status.

    BrowsaError (code, message, status, request_id)
    ├── BadRequest              BAD_REQUEST            400
    ├── Unauthorized            UNAUTHORIZED           401
    ├── InsufficientCredit      INSUFFICIENT_CREDIT    402
    ├── Forbidden               FORBIDDEN              403
    ├── NotFound                NOT_FOUND              404
    ├── AgentNotRunning         AGENT_NOT_RUNNING      409
    ├── IdempotencyConflict     IDEMPOTENCY_CONFLICT   409
    ├── TooManyRequests         TOO_MANY_REQUESTS      429 (retry_after)
    ├── UpstreamUnavailable     UPSTREAM_UNAVAILABLE   502
    │   └── UpstreamTimeout     UPSTREAM_TIMEOUT       504 (retryable: the browser was slow to start, not broken)
    └── InternalError           INTERNAL_ERROR         500
        └── StorageUnavailable  INTERNAL_ERROR         507 (the data dir is full, read-only or failing)

A tool call that fails returns `envelope()` as an MCP tool error; nothing else leaks out.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

__all__ = [
    "AgentNotRunning",
    "BadRequest",
    "BrowsaError",
    "Forbidden",
    "IdempotencyConflict",
    "InsufficientCredit",
    "InternalError",
    "NotFound",
    "StorageUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "new_request_id",
]


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex[:20]


class BrowsaError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, request_id: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.context = context

    def envelope(self, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "error": self.message,
            "request_id": self.request_id or request_id or new_request_id(),
        }
        body.update({k: v for k, v in self.context.items() if v is not None})
        return body


class BadRequest(BrowsaError):
    code = "BAD_REQUEST"
    status = 400


class Unauthorized(BrowsaError):
    code = "UNAUTHORIZED"
    status = 401


class InsufficientCredit(BrowsaError):
    code = "INSUFFICIENT_CREDIT"
    status = 402


class Forbidden(BrowsaError):
    code = "FORBIDDEN"
    status = 403


class NotFound(BrowsaError):
    code = "NOT_FOUND"
    status = 404


class AgentNotRunning(BrowsaError):
    code = "AGENT_NOT_RUNNING"
    status = 409


class IdempotencyConflict(BrowsaError):
    code = "IDEMPOTENCY_CONFLICT"
    status = 409


class TooManyRequests(BrowsaError):
    code = "TOO_MANY_REQUESTS"
    status = 429

    def __init__(self, message: str, *, retry_after: float, **context: Any) -> None:
        super().__init__(message, retry_after=round(retry_after, 1), **context)


class UpstreamUnavailable(BrowsaError):
    code = "UPSTREAM_UNAVAILABLE"
    status = 502


class UpstreamTimeout(UpstreamUnavailable):
    """A browser took longer to start than allowed. Worth retrying: a loaded machine starts it next time."""

    code = "UPSTREAM_TIMEOUT"
    status = 504

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message, retryable=True, **context)


class InternalError(BrowsaError):
    code = "INTERNAL_ERROR"
    status = 500


class StorageUnavailable(InternalError):
    """The database in the data dir cannot be written (or read): nothing of the failed call was saved."""

    status = 507
