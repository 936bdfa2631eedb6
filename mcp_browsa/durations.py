"""Reading durations people and servers write: "90s", "5m", "1.5h" in settings and arguments, and Retry-After.

One parser for each, so a TTL, a retry schedule and a vendor's back-off all read the same spellings.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

__all__ = ["parse_duration", "parse_retry_after"]

_DURATION = re.compile(
    r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*"
    r"(ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)?\s*$",
    re.IGNORECASE,
)
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds from a number with an optional unit (ms, s, m, h, d, or their words); ValueError when not one.

    A bare number is seconds. The sign is kept: callers say which range they accept.
    """
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text[:40]!r} is not a duration")
    unit = (m.group(2) or "s").lower()
    return float(m.group(1)) * _SCALE["ms" if unit == "ms" else unit[0]]


def parse_retry_after(value: str | None, *, cap: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), never negative, at most `cap`.

    None when the header is absent or unreadable, so the caller's own back-off applies.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    seconds = max(seconds, 0.0)
    return seconds if cap is None else min(seconds, cap)
