"""The trust score as a sum of factors, each a knob the user can turn: what the identity is and how it is used,
plus what the detection harness measured in its live browser.

`get_identity(include=["trust"])` lists the factors; their points add up to `trust_score` (0–1000).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp_browsa.browser.trust import Band, TrustReport, band_for

__all__ = ["MAX_POINTS", "TrustFactor", "TrustRating", "rate_identity"]

# Most points go to what cannot be faked by a setting: the baseline every coherent browser gets and the harness.
# The rest rewards what makes a real visitor: a kept profile, a common desktop OS, history, a matching country,
# age and use. A clean burner on Linux with nothing else scores 850, the bottom of the high band.
MAX_POINTS: Mapping[str, int] = {
    "baseline": 600,
    "harness": 250,
    "mode": 50,
    "os": 30,
    "warmup": 25,
    "country": 10,
    "age": 15,
    "sessions": 20,
}
_OS_POINTS = {"OS_TYPE_WINDOWS": 30, "OS_TYPE_MACOS": 20, "OS_TYPE_LINUX": 0}
_OS_NAMES = {"OS_TYPE_WINDOWS": "Windows", "OS_TYPE_MACOS": "macOS", "OS_TYPE_LINUX": "Linux"}
_DAY = 86400.0
_POINTS_PER_SESSION = 2


@dataclass(frozen=True)
class TrustFactor:
    name: str
    points: int
    detail: str  # what earned the points, and what would earn more

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class TrustRating:
    """The score, its band, its factors, and the harness report it rests on."""

    factors: tuple[TrustFactor, ...]
    report: TrustReport

    @property
    def score(self) -> int:
        return sum(f.points for f in self.factors)

    @property
    def band(self) -> Band:
        return band_for(self.score)

    def summary(self) -> dict[str, Any]:
        """What get_identity(include=["trust"]) returns: the full check list is the `detection` include."""
        return {
            "score": self.score,
            "band": self.band,
            "factors": [f.to_dict() for f in self.factors],
            "failed": [c.name for c in self.report.failed],
        }


def rate_identity(
    report: TrustReport, identity: Mapping[str, Any], *, sessions: int, at: float | None = None
) -> TrustRating:
    """Rate an identity (its row: mode, os_type, country, warmup_recipe, created_at) on its harness `report`."""
    at = time.time() if at is None else at
    harness_points = round(MAX_POINTS["harness"] * report.score / 1000)
    failed = ", ".join(c.name for c in report.failed)
    factors = (
        TrustFactor("baseline", MAX_POINTS["baseline"], "every identity with a coherent fingerprint"),
        TrustFactor(
            "harness",
            harness_points,
            f"detection harness {report.score}/1000 in the live browser"
            + (f"; failed: {failed} (the `detection` include says why)" if failed else "; every check passed"),
        ),
        _mode(str(identity["mode"])),
        _os(str(identity["os_type"])),
        _warmup(identity.get("warmup_recipe")),
        _country(identity.get("country"), report),
        _age(at - float(identity["created_at"])),
        _sessions(sessions),
    )
    return TrustRating(factors, report)


def _mode(mode: str) -> TrustFactor:
    if mode == "persistent":
        return TrustFactor(
            "mode", MAX_POINTS["mode"], "persistent: cookies and history carry over like a returning visitor"
        )
    return TrustFactor("mode", 0, f'burner: starts with no history; mode="persistent" adds {MAX_POINTS["mode"]}')


def _os(os_type: str) -> TrustFactor:
    points = _OS_POINTS.get(os_type, 0)
    detail = f"{_OS_NAMES.get(os_type, os_type)} desktop"
    if points < MAX_POINTS["os"]:
        detail += f"; os_type=OS_TYPE_WINDOWS, the most common desktop, adds {MAX_POINTS['os'] - points}"
    return TrustFactor("os", points, detail)


def _warmup(recipe: object) -> TrustFactor:
    if recipe:
        return TrustFactor("warmup", MAX_POINTS["warmup"], f"warmed up with recipe {recipe!r}")
    return TrustFactor("warmup", 0, f"not warmed up; a warmup_recipe at creation adds {MAX_POINTS['warmup']}")


def _country(country: object, report: TrustReport) -> TrustFactor:
    if not country:
        return TrustFactor("country", 0, f"no country claimed; country= (your exit's) adds {MAX_POINTS['country']}")
    zone = next((c for c in report.checks if c.name == "timezone_country"), None)
    if zone is not None and zone.weight and not zone.passed:
        return TrustFactor("country", 0, f"{country}: the browser's time zone contradicts it ({zone.detail})")
    return TrustFactor("country", MAX_POINTS["country"], f"{country}: locale and time zone agree with it")


def _age(seconds: float) -> TrustFactor:
    days = max(0, int(seconds // _DAY))
    points = min(MAX_POINTS["age"], days)
    detail = f"{days} day{'s' if days != 1 else ''} old"
    if points < MAX_POINTS["age"]:
        detail += f"; +1 a day, up to {MAX_POINTS['age']}"
    return TrustFactor("age", points, detail)


def _sessions(count: int) -> TrustFactor:
    points = min(MAX_POINTS["sessions"], _POINTS_PER_SESSION * count)
    detail = f"{count} session{'s' if count != 1 else ''} of use"
    if points < MAX_POINTS["sessions"]:
        detail += f"; +{_POINTS_PER_SESSION} a session (open_session or a task), up to {MAX_POINTS['sessions']}"
    return TrustFactor("sessions", points, detail)
