"""create_identity's rules without a browser: TTL parsing, mode detection, and the refusals they give."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_browsa.errors import BadRequest
from mcp_browsa.identities.spec import DEFAULT_TTL, build_spec, parse_ttl


def spec(**kw: Any) -> Any:
    args: dict[str, Any] = dict(
        mode=None,
        ttl=None,
        ttl_seconds=None,
        os_type=None,
        country=None,
        persona=None,
        warmup_recipe=None,
        initial_url=None,
        allowed_domains=None,
        recipes={"shop": ["https://shop.example/"]},
    )
    args.update(kw)
    return build_spec(**args)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("300s", 300), ("1h", 3600), ("90", 90), (" 2 min ", 120), ("1.5m", 90), ("10 seconds", 10)],
)
def test_ttl_spellings(text: str, seconds: float) -> None:
    assert parse_ttl(text, None) == seconds


@pytest.mark.parametrize(
    ("text", "number", "message"),
    [
        ("2 weeks", None, "not a duration"),
        ("2h", None, "between 5 seconds and 1 hour"),
        (None, 1, "between 5 seconds and 1 hour"),
        ("5m", 60, "disagree"),
    ],
)
def test_bad_ttls_say_what_is_wrong(text: str | None, number: float | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_ttl(text, number)


def test_mode_is_detected_as_browsa_does() -> None:
    assert spec().mode == "burner" and spec().ttl_seconds == DEFAULT_TTL
    assert spec(persona="buyer").mode == "persistent" and spec(persona="buyer").ttl_seconds is None
    assert spec(warmup_recipe="shop").mode == "persistent"
    assert spec(persona="buyer", ttl="5m").mode == "burner"  # a TTL means burner
    assert spec(warmup_recipe="shop").warmup_urls == ("https://shop.example/",)
    assert spec(country="gb").country == "GB"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mode": "persistent", "ttl": "5m"}, "burners only"),
        ({"warmup_recipe": "gym"}, "unknown warmup_recipe 'gym'; known recipes: shop"),
        ({"country": "XX"}, "unknown country 'XX'"),
        ({"os_type": "OS_TYPE_BEOS"}, "OS_TYPE_BEOS"),
        ({"persona": "x" * 201}, "persona is 201 characters"),
        ({"initial_url": "file:///etc/passwd"}, "file: scheme"),
    ],
)
def test_refusals(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        spec(**kw)
