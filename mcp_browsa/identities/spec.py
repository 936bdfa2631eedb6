"""What create_identity and open_session accept: TTL parsing, mode detection, and validation with clear BAD_REQUESTs.

Tools, the CLI and tests share these rules, so a request is refused the same way whichever door it came in by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from mcp_browsa.browser.fingerprint import OsType, country_timezones
from mcp_browsa.durations import parse_duration
from mcp_browsa.errors import BadRequest
from mcp_browsa.validation import check_http_url

__all__ = [
    "DEFAULT_OS",
    "DEFAULT_SESSION_TTL",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "OS_TYPES",
    "CreateSpec",
    "build_spec",
    "parse_ttl",
]

MIN_TTL = 5.0
MAX_TTL = 3600.0  # a burner or an interactive session lives at most an hour
DEFAULT_TTL = 600.0
DEFAULT_SESSION_TTL = 900.0
DEFAULT_OS: OsType = "OS_TYPE_LINUX"  # what the host really is (fonts, codecs): the most coherent choice
OS_TYPES: tuple[str, ...] = ("OS_TYPE_MACOS", "OS_TYPE_WINDOWS", "OS_TYPE_LINUX")
MAX_PERSONA = 200


def parse_ttl(ttl: str | None, ttl_seconds: float | None, *, field: str = "ttl") -> float | None:
    """Seconds from "5m" / "300s" / "1h" (or a plain number of seconds) or from `ttl_seconds`; None when neither."""
    seconds: float | None = None
    if ttl is not None and str(ttl).strip():
        try:
            seconds = parse_duration(str(ttl))
        except ValueError:
            raise BadRequest(f'{field} {str(ttl)[:40]!r} is not a duration; use e.g. "90s", "5m" or "1h"') from None
    if ttl_seconds is not None:
        if seconds is not None and abs(seconds - ttl_seconds) > 0.001:
            raise BadRequest(f"{field} ({ttl}) and {field}_seconds ({ttl_seconds}) disagree; give one of them")
        seconds = float(ttl_seconds)
    if seconds is not None and not MIN_TTL <= seconds <= MAX_TTL:
        raise BadRequest(f"{field} must be between {MIN_TTL:.0f} seconds and 1 hour, got {seconds:g} s")
    return seconds


@dataclass(frozen=True)
class CreateSpec:
    """A validated create_identity request."""

    mode: str  # burner | persistent
    ttl_seconds: float | None  # burners only
    os_type: OsType
    country: str | None
    persona: str | None
    warmup_recipe: str | None
    warmup_urls: tuple[str, ...]
    initial_url: str | None
    allowed_domains: tuple[str, ...] | None


def build_spec(
    *,
    mode: str | None,
    ttl: str | None,
    ttl_seconds: float | None,
    os_type: str | None,
    country: str | None,
    persona: str | None,
    warmup_recipe: str | None,
    initial_url: str | None,
    allowed_domains: list[str] | None,
    recipes: dict[str, list[str]],
) -> CreateSpec:
    """Validate a create request; mode is detected as Browsa does: a TTL means burner, persona or warm-up means persistent."""
    seconds = parse_ttl(ttl, ttl_seconds)
    persona = (persona or "").strip() or None
    recipe = (warmup_recipe or "").strip() or None
    if mode is None:
        mode = "burner" if seconds is not None or (persona is None and recipe is None) else "persistent"
    if mode not in ("burner", "persistent"):
        raise BadRequest(f"mode {mode!r} is not burner or persistent")
    if mode == "persistent" and seconds is not None:
        raise BadRequest("ttl applies to burners only; a persistent identity lives until destroy_identity")
    if mode == "burner" and seconds is None:
        seconds = DEFAULT_TTL
    os_name = os_type or DEFAULT_OS
    if os_name not in OS_TYPES:
        raise BadRequest(f"os_type {os_name!r} is not one of {', '.join(OS_TYPES)}")
    code = None
    if country is not None and country.strip():
        try:
            country_timezones(country)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        code = country.strip().upper()
    if persona is not None and len(persona) > MAX_PERSONA:
        raise BadRequest(f"persona is {len(persona)} characters; keep it under {MAX_PERSONA}")
    urls: tuple[str, ...] = ()
    if recipe is not None:
        if recipe not in recipes:
            known = ", ".join(sorted(recipes)) or "none are defined"
            raise BadRequest(
                f"unknown warmup_recipe {recipe!r}; known recipes: {known}"
                ' (an operator defines them with BROWSA_WARMUP_RECIPES="name=url1|url2;other=url3")',
                known_recipes=sorted(recipes),
            )
        urls = tuple(recipes[recipe])
    start = check_http_url(initial_url, field="initial_url") if initial_url else None
    domains = tuple(allowed_domains) if allowed_domains is not None else None
    return CreateSpec(
        mode=mode,
        ttl_seconds=seconds,
        os_type=cast("OsType", os_name),
        country=code,
        persona=persona,
        warmup_recipe=recipe,
        warmup_urls=urls,
        initial_url=start,
        allowed_domains=domains,
    )
