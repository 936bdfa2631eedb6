"""What a live page reveals about its browser: the read-back fingerprint and the trust score.

Both come from one evaluation of probe.js; the checks that turn observations into a 0–1000 score live here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any, Literal

from playwright.async_api import Page

from mcp_browsa.browser.fingerprint import Fingerprint, canonical_timezone, country_timezones

__all__ = [
    "WEIGHTS",
    "Band",
    "TrustCheck",
    "TrustReport",
    "band_for",
    "read_fingerprint",
    "score_checks",
    "trust_report",
]

Band = Literal["high", "medium", "low"]

_SOFTWARE_GL = re.compile(r"swiftshader|llvmpipe|softpipe|software|basic render|mesa offscreen|lavapipe", re.I)
_UA_OS = (("Windows", "Windows", "Win"), ("Macintosh", "macOS", "Mac"), ("Linux", "Linux", "Linux"))
# Notification.permission and permissions.query() spell the same state differently.
_PERMISSION_PAIRS = {"default": "prompt", "denied": "denied", "granted": "granted"}


@dataclass(frozen=True)
class TrustCheck:
    name: str
    weight: int  # 0 = not applicable here, shown but not scored
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class TrustReport:
    score: int  # 0–1000
    band: Band
    checks: list[TrustCheck] = field(default_factory=list)

    @property
    def failed(self) -> list[TrustCheck]:
        return [c for c in self.checks if c.weight and not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "band": self.band, "checks": [c.to_dict() for c in self.checks]}


def band_for(score: int) -> Band:
    """≥850 high, 700–849 medium, below that low."""
    return "high" if score >= 850 else "medium" if score >= 700 else "low"


def score_checks(checks: list[TrustCheck]) -> TrustReport:
    total = sum(c.weight for c in checks)
    passed = sum(c.weight for c in checks if c.passed)
    score = round(1000 * passed / total) if total else 0
    return TrustReport(score=score, band=band_for(score), checks=checks)


@cache
def _probe_source() -> str:
    return files("mcp_browsa.browser").joinpath("probe.js").read_text(encoding="utf-8").strip()


async def _probe(page: Page, *, hashes: bool, worker: bool) -> dict[str, Any]:
    result = await page.evaluate(_probe_source(), {"hashes": hashes, "worker": worker})
    if not isinstance(result, dict):
        raise RuntimeError(f"fingerprint probe returned {type(result).__name__}, not an object")
    return result


def _sha256(value: object) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) else None


async def read_fingerprint(page: Page) -> dict[str, Any]:
    """What the live page reports about itself (navigator, client hints, screen, time zone, WebGL, canvas/audio hashes)."""
    raw = await _probe(page, hashes=True, worker=False)
    win = raw["window"]
    tz = raw["timezone"]
    return {
        "url": raw["url"],
        "secure_context": raw["secure"],
        "navigator": raw["navigator"],
        "user_agent_data": raw["userAgentData"],
        "screen": raw["screen"],
        "viewport": {"width": win["innerWidth"], "height": win["innerHeight"]},
        "window": {"outerWidth": win["outerWidth"], "outerHeight": win["outerHeight"]},
        "device_pixel_ratio": win["devicePixelRatio"],
        "timezone": {"name": tz["name"], "locale": tz["locale"], "offset_minutes": tz["offsetMinutes"]},
        "webgl": raw["webgl"],
        "plugins": raw["plugins"],
        "mime_types": raw["mimeTypes"],
        "canvas_hash": _sha256(raw.get("canvas")),
        "audio_hash": _sha256(raw.get("audio")),
    }


async def trust_report(page: Page, *, expected: Fingerprint | None = None, country: str | None = None) -> TrustReport:
    """Run the detection harness in the page and score it; `country` defaults to the expected fingerprint's."""
    if country is None and expected is not None:
        country = expected.country
    zones = country_timezones(country) if country else None  # ValueError for an unknown country, before any work
    raw = await _probe(page, hashes=False, worker=True)
    checks = [check(raw) for check in _CHECKS]
    checks += [_timezone_country(raw, country, zones), _expected_match(raw, expected)]
    return score_checks(checks)


_Check = Callable[[dict[str, Any]], TrustCheck]

# How much each check counts toward the score. A tell that every detector flags on sight (the webdriver flag, a
# HeadlessChrome UA, a UA naming an OS that navigator.platform contradicts) outweighs 15 % of the total, so on its
# own it takes an otherwise clean browser out of the high band; no other single check does.
WEIGHTS: Mapping[str, int] = MappingProxyType(
    {
        "webdriver": 8,
        "headless_user_agent": 8,
        "platform_coherence": 8,
        "expected_fingerprint": 3,
        "headless_client_hints": 2,
        "version_coherence": 2,
        "languages_locale": 2,
        "timezone_country": 2,
        "plugins": 2,
        "permissions": 2,
        "webgl_renderer": 2,
        "screen_viewport": 2,
        "timezone_offset": 1,
        "window_chrome": 1,
        "window_frame": 1,
        "native_getters": 1,
        "worker_coherence": 1,
    }
)


def _check(name: str, passed: bool, detail: str) -> TrustCheck:
    return TrustCheck(name, WEIGHTS[name], passed, detail)


def _not_scored(name: str, detail: str) -> TrustCheck:
    """Not measurable in this page: listed in the breakdown, left out of the score."""
    return TrustCheck(name, 0, True, detail)


def _webdriver(raw: dict[str, Any]) -> TrustCheck:
    value = raw["navigator"]["webdriver"]
    return _check("webdriver", value is not True, f"navigator.webdriver = {value!r}")


def _headless_ua(raw: dict[str, Any]) -> TrustCheck:
    ua = raw["navigator"]["userAgent"] + " " + raw["navigator"]["appVersion"]
    bad = "Headless" in ua
    return _check("headless_user_agent", not bad, "UA says HeadlessChrome" if bad else "no headless token in UA")


def _headless_hints(raw: dict[str, Any]) -> TrustCheck:
    uad = raw["userAgentData"]
    if uad is None:
        if not raw["secure"]:
            return _not_scored("headless_client_hints", "userAgentData is not exposed on insecure pages")
        return _check("headless_client_hints", False, "userAgentData missing on a secure page")
    names = [b["brand"] for b in uad["brands"]]
    if any("Headless" in n for n in names):
        return _check("headless_client_hints", False, f"brands name a headless browser: {names}")
    if "Chromium" not in names:
        return _check("headless_client_hints", False, f"brands lack Chromium: {names}")
    return _check("headless_client_hints", True, f"brands: {names}")


def _platform_coherence(raw: dict[str, Any]) -> TrustCheck:
    nav, uad = raw["navigator"], raw["userAgentData"]
    ua, platform = nav["userAgent"], nav["platform"]
    claimed = next(((hint, prefix) for token, hint, prefix in _UA_OS if token in ua), None)
    problems = []
    if claimed is None:
        problems.append("UA names no desktop OS")
    else:
        hint, prefix = claimed
        if not platform.startswith(prefix):
            problems.append(f"UA says {hint} but navigator.platform is {platform!r}")
        if uad is not None and uad["platform"] != hint:
            problems.append(f"UA says {hint} but userAgentData.platform is {uad['platform']!r}")
    if "Mobile" in ua or (uad is not None and uad["mobile"]):
        problems.append("claims to be mobile")
    detail = "; ".join(problems) or f"UA, navigator.platform ({platform}) and client hints agree"
    return _check("platform_coherence", not problems, detail)


def _version_coherence(raw: dict[str, Any]) -> TrustCheck:
    m = re.search(r"Chrome/(\d+)", raw["navigator"]["userAgent"])
    uad = raw["userAgentData"]
    if m is None:
        return _check("version_coherence", False, "UA carries no Chrome/ version")
    major = m.group(1)
    seen = {"UA": major}
    if uad is not None:
        seen.update({f"brand {b['brand']}": b["version"] for b in uad["brands"] if not b["brand"].startswith("Not")})
        high = uad["highEntropy"]
        if isinstance(high.get("uaFullVersion"), str):
            seen["uaFullVersion"] = high["uaFullVersion"].split(".")[0]
    bad = {k: v for k, v in seen.items() if v != major}
    detail = f"mismatch with UA {major}: {bad}" if bad else f"all report {major}"
    return _check("version_coherence", not bad, detail)


def _languages_locale(raw: dict[str, Any]) -> TrustCheck:
    nav = raw["navigator"]
    langs: list[str] = nav["languages"]
    intl: str = raw["timezone"]["locale"]
    problems = []
    if not langs or nav["language"] != langs[0]:
        problems.append(f"navigator.language {nav['language']!r} is not first of {langs}")
    lang_parts, intl_parts = nav["language"].split("-"), intl.split("-")
    if lang_parts[0] != intl_parts[0] or (
        len(lang_parts) > 1 and len(intl_parts) > 1 and lang_parts[-1] != intl_parts[-1]
    ):
        problems.append(f"navigator.language {nav['language']!r} but Intl locale {intl!r}")
    detail = "; ".join(problems) or f"{nav['language']} everywhere ({', '.join(langs)})"
    return _check("languages_locale", not problems, detail)


def _timezone_country(raw: dict[str, Any], country: str | None, zones: tuple[str, ...] | None) -> TrustCheck:
    name = raw["timezone"]["name"]
    if country is None or zones is None:
        return _not_scored("timezone_country", f"no country claimed; time zone {name}")
    ok = canonical_timezone(name) in {canonical_timezone(z) for z in zones}
    detail = f"{name} {'is' if ok else 'is not'} a time zone of {country.upper()} ({', '.join(zones)})"
    return _check("timezone_country", ok, detail)


def _timezone_offset(raw: dict[str, Any]) -> TrustCheck:
    tz = raw["timezone"]
    minutes: int = tz["offsetMinutes"]
    m = re.fullmatch(r"GMT(?:([+-])(\d\d):(\d\d))?", tz["intlOffset"] or "")
    if m is None:
        return _check("timezone_offset", False, f"Intl offset unreadable: {tz['intlOffset']!r}")
    intl = 0 if m.group(1) is None else (1 if m.group(1) == "+" else -1) * (int(m.group(2)) * 60 + int(m.group(3)))
    return _check("timezone_offset", intl == minutes, f"Date says {minutes} min, Intl says {intl} min")


def _plugins(raw: dict[str, Any]) -> TrustCheck:
    plugins, mimes = raw["plugins"], raw["mimeTypes"]
    ok = bool(plugins) and "application/pdf" in mimes and raw["pluginsNative"]
    detail = f"{len(plugins)} plugins, mime types {mimes}" + ("" if raw["pluginsNative"] else ", not native arrays")
    return _check("plugins", ok, detail)


def _window_chrome(raw: dict[str, Any]) -> TrustCheck:
    chrome = raw["chrome"]
    return _check("window_chrome", chrome["present"], f"window.chrome keys: {chrome['keys']}")


def _permissions(raw: dict[str, Any]) -> TrustCheck:
    perm = raw["permissions"]
    note, query = perm["notification"], perm["query"]
    if note is None or query is None:
        return _not_scored("permissions", "Notification or permissions API unavailable here")
    ok = _PERMISSION_PAIRS.get(note) == query
    return _check("permissions", ok, f"Notification.permission={note!r}, permissions.query={query!r}")


def _webgl(raw: dict[str, Any]) -> TrustCheck:
    gl = raw["webgl"]
    if not gl:
        return _check("webgl_renderer", False, "no WebGL context (desktop Chrome always has one)")
    renderer = gl["unmaskedRenderer"] or gl["renderer"]
    software = bool(_SOFTWARE_GL.search(renderer or ""))
    detail = f"{'software renderer' if software else 'renderer'}: {renderer}"
    return _check("webgl_renderer", not software, detail)


def _screen_viewport(raw: dict[str, Any]) -> TrustCheck:
    s, w = raw["screen"], raw["window"]
    problems = []
    if s["width"] < w["innerWidth"] or s["height"] < w["innerHeight"]:
        problems.append(f"screen {s['width']}x{s['height']} smaller than viewport {w['innerWidth']}x{w['innerHeight']}")
    if s["availWidth"] > s["width"] or s["availHeight"] > s["height"]:
        problems.append("available screen larger than the screen")
    if w["outerWidth"] < w["innerWidth"] or w["outerHeight"] < w["innerHeight"]:
        problems.append("window smaller than its viewport")
    detail = "; ".join(problems) or f"screen {s['width']}x{s['height']} ≥ viewport {w['innerWidth']}x{w['innerHeight']}"
    return _check("screen_viewport", not problems, detail)


def _window_frame(raw: dict[str, Any]) -> TrustCheck:
    w = raw["window"]
    ok = w["outerHeight"] > w["innerHeight"]
    detail = f"outer {w['outerWidth']}x{w['outerHeight']}, inner {w['innerWidth']}x{w['innerHeight']}"
    return _check("window_frame", ok, detail + ("" if ok else " (no browser UI: headless)"))


def _native_getters(raw: dict[str, Any]) -> TrustCheck:
    native: dict[str, Any] = raw["native"] or {}
    bad = [k for k, v in native.items() if not (isinstance(v, str) and "[native code]" in v)]
    own = raw["navigatorOwnProps"]
    problems = [f"non-native {', '.join(bad)}"] if bad or not native else []
    if own:
        problems.append(f"navigator has own properties {own}")
    return _check("native_getters", not problems, "; ".join(problems) or "navigator accessors look native")


def _worker_coherence(raw: dict[str, Any]) -> TrustCheck:
    wk = raw.get("worker") or {}
    if "error" in wk or not wk:
        return _not_scored("worker_coherence", f"worker not measurable: {wk.get('error', 'no result')}")
    nav, uad = raw["navigator"], raw["userAgentData"]
    window = {
        "userAgent": nav["userAgent"],
        "platform": nav["platform"],
        "languages": nav["languages"],
        "hardwareConcurrency": nav["hardwareConcurrency"],
        "brands": [b["brand"] for b in uad["brands"]] if uad else None,
        "timezone": raw["timezone"]["name"],
    }
    bad = [f"{k}: page {v!r} vs worker {wk.get(k)!r}" for k, v in window.items() if wk.get(k) != v]
    return _check("worker_coherence", not bad, "; ".join(bad) or "a worker sees the same browser")


def _expected_match(raw: dict[str, Any], fp: Fingerprint | None) -> TrustCheck:
    if fp is None:
        return _not_scored("expected_fingerprint", "no fingerprint to compare with")
    nav, uad, win, gl = raw["navigator"], raw["userAgentData"], raw["window"], raw["webgl"] or {}
    pairs: dict[str, tuple[object, object]] = {
        "userAgent": (nav["userAgent"], fp.user_agent),
        "platform": (nav["platform"], fp.platform),
        "languages": (nav["languages"], list(fp.languages)),
        "timezone": (canonical_timezone(raw["timezone"]["name"]), canonical_timezone(fp.timezone)),
        "screen": ((raw["screen"]["width"], raw["screen"]["height"]), (fp.screen_width, fp.screen_height)),
        "hardwareConcurrency": (nav["hardwareConcurrency"], fp.hardware_concurrency),
        "devicePixelRatio": (win["devicePixelRatio"], fp.device_scale_factor),
    }
    if nav["deviceMemory"] is not None:
        pairs["deviceMemory"] = (nav["deviceMemory"], fp.device_memory)
    if uad is not None:
        pairs["userAgentData.platform"] = (uad["platform"], fp.ua_platform)
    if gl.get("unmaskedRenderer"):
        pairs["webglRenderer"] = (gl["unmaskedRenderer"], fp.webgl_renderer)
    bad = [f"{k}: {got!r} ≠ {want!r}" for k, (got, want) in pairs.items() if got != want]
    return _check("expected_fingerprint", not bad, "; ".join(bad) or f"matches on {len(pairs)} properties")


_CHECKS: tuple[_Check, ...] = (
    _webdriver,
    _headless_ua,
    _headless_hints,
    _platform_coherence,
    _version_coherence,
    _languages_locale,
    _timezone_offset,
    _plugins,
    _window_chrome,
    _permissions,
    _webgl,
    _screen_viewport,
    _window_frame,
    _native_getters,
    _worker_coherence,
)
