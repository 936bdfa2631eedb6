"""One reading of durations and Retry-After for every caller: TTLs, the webhook retry schedule, model back-off."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from mcp_browsa.durations import parse_duration, parse_retry_after
from mcp_browsa.llm.retry import retry_after_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), (" 2 min ", 120), ("1.5h", 5400), ("250ms", 0.25), ("1d", 86400)],
)
def test_spellings(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2 weeks", "m5", "5 5s", "five"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_retry_after_reads_seconds_and_dates_and_never_goes_negative() -> None:
    assert parse_retry_after("7") == 7
    soon = parse_retry_after(formatdate(time.time() + 60, usegmt=True))
    assert soon is not None and 55 < soon <= 60
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert parse_retry_after("3600", cap=60) == 60
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_model_vendor_is_read_the_same_way() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "9"}) == 9
    date = retry_after_seconds({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert date is not None and 25 < date <= 30
    assert retry_after_seconds({}) is None
