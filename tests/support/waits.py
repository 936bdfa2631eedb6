"""Waiting on a condition with a deadline: what a test does instead of sleeping and hoping.

`wait_until` (async) and `wait_until_sync` (a plain thread) look at a condition every `interval` seconds and
return its first true value; past `timeout` they fail the test with `what`, so a hang says what never happened.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["wait_until", "wait_until_sync"]

T = TypeVar("T")

What = str | Callable[[], str]  # a callable is asked at the deadline, so the message can show the last state seen


def _failure(what: What, timeout: float) -> AssertionError:
    return AssertionError(f"{what() if callable(what) else what}: not reached in {timeout:g} s")


async def wait_until(
    condition: Callable[[], T | Awaitable[T]], what: What, *, timeout: float = 30.0, interval: float = 0.05
) -> T:
    """The first true value of `condition` (sync or async), looked at every `interval` seconds.

    Fails the test naming `what` once `timeout` seconds pass without it; an exception the condition raises (an
    assertion that the state went wrong for good, say) ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _failure(what, timeout)
        await anyio.sleep(interval)


def wait_until_sync(condition: Callable[[], T], what: What, *, timeout: float = 30.0, interval: float = 0.05) -> T:
    """`wait_until` for code that is not async (a fixture starting a server thread, a synchronous test)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise _failure(what, timeout)
        time.sleep(interval)
    return value
