"""Browser fingerprints: generating a coherent one, storing it, and applying it to a context.

Owns the country table (locale, languages, time zones) and the init script; the per-OS hardware tables are in
`fingerprint_tables.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import secrets
import weakref
import zoneinfo
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, get_args

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from mcp_browsa.browser.fingerprint_tables import (
    GPUS,
    NAV_PLATFORM,
    PLATFORM_VERSIONS,
    SCREENS,
    UA_OS,
    UA_PLATFORM,
    UI_HEIGHTS,
)
from mcp_browsa.browser.workers import Command, configure_workers

__all__ = [
    "COUNTRIES",
    "Fingerprint",
    "OsType",
    "apply_fingerprint",
    "canonical_timezone",
    "context_options",
    "country_timezones",
    "fingerprint_page",
    "make_fingerprint",
    "native_overrides",
    "worker_commands",
]

log = logging.getLogger(__name__)

OsType = Literal["OS_TYPE_MACOS", "OS_TYPE_WINDOWS", "OS_TYPE_LINUX"]
_OS_TYPES: tuple[str, ...] = get_args(OsType)


def _load_countries() -> dict[str, tuple[str, tuple[str, ...]]]:
    raw = json.loads(files("mcp_browsa.browser").joinpath("countries.json").read_text(encoding="utf-8"))
    return {code: (row["locale"], tuple(row["timezones"])) for code, row in raw.items()}


# ISO country -> (locale, IANA zones as Chromium's Intl reports them, most populous first).
COUNTRIES: Mapping[str, tuple[str, tuple[str, ...]]] = _load_countries()
_COUNTRY_ALIASES = {"UK": "GB"}
# Chromium's ICU keeps the legacy names; accept either spelling wherever zones are compared.
_TZ_ALIASES = {
    "Asia/Kolkata": "Asia/Calcutta",
    "Europe/Kyiv": "Europe/Kiev",
    "Asia/Ho_Chi_Minh": "Asia/Saigon",
    "America/Argentina/Buenos_Aires": "America/Buenos_Aires",
    "Asia/Kathmandu": "Asia/Katmandu",
    "Etc/UTC": "UTC",
}

_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")


def _greased_brands(major: int, brand: str | None, version: str) -> list[dict[str, str]]:
    """Chromium's brand list for this major version (GenerateBrandVersionList): same order, same GREASE brand."""
    chars = " (:-./);=?_"
    grease = {
        "brand": f"Not{chars[major % 11]}A{chars[(major + 1) % 11]}Brand",
        "version": ("8", "99", "24")[major % 3] + ("" if version.isdigit() else ".0.0.0"),
    }
    chromium = {"brand": "Chromium", "version": version}
    if brand is None:
        pair = [chromium, chromium]
        pair[major % 2] = grease
        return pair
    order = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))[major % 6]
    out = [grease, grease, grease]
    out[order[1]] = chromium
    out[order[2]] = {"brand": brand, "version": version}
    return out


@dataclass(frozen=True)
class Fingerprint:
    """Everything a page can see about the browser, pinned so an identity looks the same every session."""

    os_type: OsType
    country: str | None
    seed: str
    chromium_version: str  # full version of the real browser, e.g. "156.0.8078.79"
    brand: str | None  # the non-Chromium brand in client hints, e.g. "Google Chrome"
    user_agent: str
    platform: str  # navigator.platform
    ua_platform: str  # userAgentData.platform / Sec-CH-UA-Platform
    ua_platform_version: str
    architecture: str
    bitness: str
    screen_width: int
    screen_height: int
    avail_width: int
    avail_height: int
    viewport_width: int
    viewport_height: int
    outer_width: int
    outer_height: int
    device_scale_factor: float
    locale: str
    languages: tuple[str, ...]
    timezone: str
    hardware_concurrency: int
    device_memory: int
    webgl_vendor: str
    webgl_renderer: str

    @property
    def major_version(self) -> int:
        return int(self.chromium_version.split(".")[0])

    @property
    def brands(self) -> list[dict[str, str]]:
        return _greased_brands(self.major_version, self.brand, str(self.major_version))

    @property
    def full_version_list(self) -> list[dict[str, str]]:
        return _greased_brands(self.major_version, self.brand, self.chromium_version)

    @property
    def avail_top(self) -> int:
        # The Windows taskbar sits below; macOS and GNOME bars sit on top.
        return 0 if self.os_type == "OS_TYPE_WINDOWS" else self.screen_height - self.avail_height

    @property
    def accept_language(self) -> str:
        """The header Chrome sends for these languages: first bare, then q=0.9, 0.8, …"""
        parts = [self.languages[0]]
        parts += [f"{lang};q={max(1, 9 - i) / 10:.1f}" for i, lang in enumerate(self.languages[1:])]
        return ",".join(parts)

    def user_agent_metadata(self) -> dict[str, Any]:
        """CDP `Emulation.UserAgentMetadata`: drives navigator.userAgentData and the Sec-CH-UA* headers."""
        return {
            "brands": self.brands,
            "fullVersionList": self.full_version_list,
            "fullVersion": self.chromium_version,
            "platform": self.ua_platform,
            "platformVersion": self.ua_platform_version,
            "architecture": self.architecture,
            "model": "",
            "mobile": False,
            "bitness": self.bitness,
            "wow64": False,
            "formFactors": ["Desktop"],
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["languages"] = list(self.languages)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        """Rebuild a stored fingerprint; unknown keys are ignored so older rows still load."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"fingerprint is missing {', '.join(missing)}")
        if data["os_type"] not in _OS_TYPES:
            raise ValueError(f"unknown os_type {data['os_type']!r}; expected one of {', '.join(_OS_TYPES)}")
        values = {n: data[n] for n in names}
        values["languages"] = tuple(str(x) for x in data["languages"])
        values["device_scale_factor"] = float(data["device_scale_factor"])
        return cls(**values)

    def init_script(self) -> str:
        """The init script with this fingerprint baked in."""
        payload = {**self.to_dict(), "brands": self.brands, "full_version_list": self.full_version_list}
        payload["avail_top"] = self.avail_top
        return f"({_init_script_source()})({json.dumps(payload)});"


@cache
def _init_script_source() -> str:
    return files("mcp_browsa.browser").joinpath("fingerprint.js").read_text(encoding="utf-8").strip().rstrip(";")


def _normalise_country(country: str) -> str:
    code = _COUNTRY_ALIASES.get(country.strip().upper(), country.strip().upper())
    if code not in COUNTRIES:
        raise ValueError(
            f"unknown country {country!r}: give an ISO 3166-1 alpha-2 code from this list: "
            f"{', '.join(sorted(COUNTRIES))} — or leave country unset for en-US in the host's time zone"
        )
    return code


def country_timezones(country: str) -> tuple[str, ...]:
    """The time zones a browser in this country plausibly reports (ValueError for an unknown country)."""
    return COUNTRIES[_normalise_country(country)][1]


def canonical_timezone(name: str) -> str:
    """One spelling per zone, so "Asia/Kolkata" and Chromium's "Asia/Calcutta" compare equal."""
    return _TZ_ALIASES.get(name, name)


def _host_timezone() -> str:
    """The machine's IANA zone: without a country the browser shares the host's IP, so its clock should match."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        candidates.append(target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else "")
    except OSError:
        pass
    for name in candidates:
        if not name or name.startswith("/"):
            continue
        try:
            zoneinfo.ZoneInfo(name)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            continue
        return canonical_timezone(name)
    return "UTC"


def _languages(locale: str) -> tuple[str, ...]:
    lang = locale.split("-")[0]
    if lang == "en":
        return (locale, "en") if locale != "en" else ("en",)
    return (locale, lang, "en-US", "en")


def make_fingerprint(
    *,
    os_type: OsType = "OS_TYPE_LINUX",
    country: str | None = None,
    chromium_version: str,
    seed: str | None = None,
) -> Fingerprint:
    """A coherent desktop-Chrome fingerprint; the same (os_type, country, version, seed) always gives the same one.

    Linux is the default because it matches what the host really is (fonts, codecs), which no JS patch can hide.
    """
    if os_type not in _OS_TYPES:
        raise ValueError(f"unknown os_type {os_type!r}; expected one of {', '.join(_OS_TYPES)}")
    version = chromium_version.strip()
    if not _VERSION_RE.match(version):
        raise ValueError(f"chromium_version {chromium_version!r} is not a version like '156.0.8078.79'")
    version = ".".join([*version.split("."), "0", "0", "0"][:4])
    code = _normalise_country(country) if country is not None else None
    seed = seed if seed is not None else secrets.token_hex(8)
    rng = random.Random(f"{seed}|{os_type}|{code}")

    if code is None:
        locale, timezone = "en-US", _host_timezone()
    else:
        locale, zones = COUNTRIES[code]
        timezone = zones[0] if rng.random() < 0.6 else rng.choice(zones)

    width, height, dsf, bar = rng.choice(SCREENS[os_type])
    avail_w, avail_h = width, height - bar
    ui = rng.choice(UI_HEIGHTS[os_type])
    vendor, renderer, arch, cores, memory = rng.choice(GPUS[os_type])
    major = version.split(".")[0]
    return Fingerprint(
        os_type=os_type,
        country=code,
        seed=seed,
        chromium_version=version,
        brand="Google Chrome",
        user_agent=(
            f"Mozilla/5.0 ({UA_OS[os_type]}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
        ),
        platform=NAV_PLATFORM[os_type],
        ua_platform=UA_PLATFORM[os_type],
        ua_platform_version=rng.choice(PLATFORM_VERSIONS[os_type]),
        architecture=arch,
        bitness="64",
        screen_width=width,
        screen_height=height,
        avail_width=avail_w,
        avail_height=avail_h,
        viewport_width=avail_w,  # a maximised window: the page is as wide as the work area
        viewport_height=avail_h - ui,
        outer_width=avail_w,
        outer_height=avail_h,
        device_scale_factor=dsf,
        locale=locale,
        languages=_languages(locale),
        timezone=timezone,
        hardware_concurrency=cores,
        device_memory=memory,
        webgl_vendor=f"Google Inc. ({vendor})",
        webgl_renderer=f"ANGLE ({vendor}, {renderer})",
    )


def context_options(fp: Fingerprint) -> dict[str, Any]:
    """Keyword arguments for `browser.new_context(**opts)` (add your own storage_state, proxy, …)."""
    return {
        "user_agent": fp.user_agent,
        "viewport": {"width": fp.viewport_width, "height": fp.viewport_height},
        "screen": {"width": fp.screen_width, "height": fp.screen_height},
        "device_scale_factor": fp.device_scale_factor,
        "is_mobile": False,
        "has_touch": False,
        "locale": fp.locale,
        "timezone_id": fp.timezone,
        "extra_http_headers": {"Accept-Language": fp.accept_language},
    }


def native_overrides(fp: Fingerprint) -> tuple[Command, Command]:
    """The CDP commands that set UA, client hints, platform, languages and cores natively, in a page or a worker."""
    identity = {
        "userAgent": fp.user_agent,
        "acceptLanguage": ",".join(fp.languages),
        "platform": fp.platform,
        "userAgentMetadata": fp.user_agent_metadata(),
    }
    return (
        ("Network.setUserAgentOverride", identity),
        ("Emulation.setHardwareConcurrencyOverride", {"hardwareConcurrency": fp.hardware_concurrency}),
    )


def worker_commands(fp: Fingerprint) -> list[Command]:
    """What a worker needs before its script runs: no page override or init script reaches it by itself."""
    return [*native_overrides(fp), ("Runtime.evaluate", {"expression": fp.init_script()})]


# Per-page CDP work, started once whichever of the page event or an explicit caller comes first.
_contexts: weakref.WeakKeyDictionary[BrowserContext, Fingerprint] = weakref.WeakKeyDictionary()
_sessions: weakref.WeakKeyDictionary[Page, CDPSession] = weakref.WeakKeyDictionary()
_started: weakref.WeakKeyDictionary[Page, asyncio.Event] = weakref.WeakKeyDictionary()


async def fingerprint_page(page: Page) -> None:
    """Set the network-level overrides (UA, client hints, platform, languages, cores) on one page and its workers.

    Called for every new page of a fingerprinted context; await it yourself before the first navigation
    when the very first request must already carry the right Sec-CH-UA headers.
    """
    fp = _contexts.get(page.context)
    if fp is None:
        return
    started = _started.get(page)
    if started is not None:
        await started.wait()
        return
    _started[page] = done = asyncio.Event()
    try:
        session = await page.context.new_cdp_session(page)
        identity, cores = native_overrides(fp)
        await session.send(*identity)
        try:
            await session.send(*cores)
        except PlaywrightError:
            pass  # older Chromium: the init script's JS fallback covers it
        await configure_workers(session, worker_commands(fp))
        # Overrides die with the session, so it must live as long as the page.
        _sessions[page] = session
    except PlaywrightError as exc:
        # Closed pages and non-CDP browsers land here; the init script still applies its JS fallbacks.
        log.debug("fingerprint override skipped for %s: %s", page.url, exc)
    finally:
        done.set()


async def _on_page(page: Page) -> None:
    try:
        await fingerprint_page(page)
    except Exception:  # an event handler has nobody to raise to
        log.exception("fingerprinting a new page failed")


async def apply_fingerprint(context: BrowserContext, fp: Fingerprint) -> None:
    """Make a context (created with `context_options(fp)`) present `fp` in JS and on the wire."""
    _contexts[context] = fp
    await context.add_init_script(script=fp.init_script())
    context.on("page", _on_page)
    for page in context.pages:
        await fingerprint_page(page)
