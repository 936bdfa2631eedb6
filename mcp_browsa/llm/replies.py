"""Failures both vendor adapters read the same way: a reply that is not the vendor's API, and a refused address.

A server that answers a login page, a proxy's error page or some other API's JSON is not a bug in the agent: the
job ends LLM_ERROR quoting the start of what came back, so the user can see which server they really reached.
"""

from __future__ import annotations

from collections.abc import Mapping

from mcp_browsa.llm.base import LLMError
from mcp_browsa.llm.endpoint import EndpointRefused
from mcp_browsa.llm.retry import redact, retry_after_seconds

__all__ = ["QUOTE_CHARS", "UNUSABLE", "by_status", "quote", "refused", "unreachable", "unusable"]

QUOTE_CHARS = 200
# What a reply conversion meets on a body of the wrong shape (the SDKs build their models without validating).
UNUSABLE: tuple[type[Exception], ...] = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def quote(text: str, secret: str | None = None) -> str:
    """The first QUOTE_CHARS characters of a body, on one line, with the key scrubbed out."""
    flat = " ".join(redact(text, secret).split())
    return flat[:QUOTE_CHARS] + ("…" if len(flat) > QUOTE_CHARS else "")


def unusable(api: str, where: str, body: str, secret: str | None) -> LLMError:
    """The error for a reply that is not `api`'s format; not retried, since asking again gets the same page."""
    shown = quote(body, secret) or "(an empty body)"
    return LLMError("LLM_ERROR", f"{where} did not answer as {api} does; it answered: {shown}")


def refused(exc: BaseException) -> LLMError | None:
    """FORBIDDEN when a connection failed because the endpoint check refused its address, else None."""
    seen: BaseException | None = exc
    for _ in range(8):  # the SDK wraps it in its connection error, which httpx may have wrapped too
        if seen is None:
            return None
        if isinstance(seen, EndpointRefused):
            return LLMError("FORBIDDEN", f"{seen.reason} ({seen.rule})")
        seen = seen.__cause__ or seen.__context__
    return None


def by_status(status: int, message: str, headers: Mapping[str, str]) -> LLMError:
    """The error an HTTP status from the vendor amounts to: a bad key, a rate limit, or a (maybe passing) failure."""
    if status in (401, 403):
        return LLMError("INVALID_API_KEY", message, status=status)
    retry_after = retry_after_seconds(headers)
    if status == 429:
        return LLMError("RATE_LIMIT", message, status=status, retryable=True, retry_after=retry_after)
    transient = status in (408, 409) or status >= 500
    return LLMError("LLM_ERROR", message, status=status, retryable=transient, retry_after=retry_after)


def unreachable(exc: Exception, what: str, base_url: object, secret: str | None) -> LLMError:
    """A connection that failed: FORBIDDEN when the endpoint check refused the address, else a retryable error."""
    forbidden = refused(exc)
    if forbidden is not None:
        return forbidden
    cause = f" ({exc.__cause__})" if exc.__cause__ else ""
    return LLMError("LLM_ERROR", redact(f"cannot reach {base_url}: {what}{cause}", secret), retryable=True)
