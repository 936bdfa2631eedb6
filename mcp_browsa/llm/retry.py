"""The bounded retry loop both vendor adapters share, and scrubbing the API key out of error text.

The SDKs' own retries are switched off: theirs honour any Retry-After, however long, and differ per vendor.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import anyio

from mcp_browsa.durations import parse_retry_after
from mcp_browsa.llm.base import LLMError

__all__ = ["RetryPolicy", "call_with_retries", "redact", "retry_after_seconds"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures (429, 408/409, 5xx, connection errors).

    The worst case adds up to about `max_retries * max_delay` seconds of waiting to one call,
    so a step can never hang on a vendor that keeps saying "later".
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retries_taken: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.max_delay)
        backoff = min(self.base_delay * 2.0**retries_taken, self.max_delay)
        # Jitter so parallel jobs sharing one key do not retry in lockstep.
        return backoff * (1.0 - 0.25 * random.random())


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    to_error: Callable[[Exception], LLMError | None],
    policy: RetryPolicy,
) -> T:
    """Run `attempt`, retrying the failures `to_error` marks retryable; raise the last one as `LLMError`.

    `to_error` returns None for exceptions that are not the vendor's (bugs), which propagate untouched.
    """
    retries_taken = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            error = to_error(exc)
            if error is None:
                raise
            if not error.retryable or retries_taken >= policy.max_retries:
                # `from None`: the SDK exception chain carries request details we do not want in logs.
                raise error from None
        await anyio.sleep(policy.delay(retries_taken, error.retry_after))
        retries_taken += 1


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced, for vendors that echo the key back."""
    if not secret or len(secret) < 4:
        return text
    return text.replace(secret, "***")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """How long the vendor asked us to wait: `retry-after-ms` (OpenAI), else the standard `retry-after`."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        ms = parse_retry_after(raw_ms)
        if ms is not None:
            return ms / 1000
    return parse_retry_after(headers.get("retry-after"))
