"""Finding a Chromium to drive, and the flags it needs. Getting one when none is found is browser/install.py.

Order: BROWSA_CHROMIUM, then Playwright's managed build, then a system chromium/google-chrome; a candidate that
cannot start on this machine is passed over.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mcp_browsa.browser.guard import GUARD_LAUNCH_ARGS
from mcp_browsa.browser.startcheck import start_failure

__all__ = [
    "DISABLED_FEATURES",
    "TAB_HEAP_MIB",
    "BrowserNotFound",
    "FoundBrowser",
    "chromium_args",
    "find_chromium",
    "playwright_managed",
]

# JavaScript heap per renderer. Heavy web apps use a few hundred MB; more is a runaway page.
TAB_HEAP_MIB = 512

# Chromium keeps only the last --disable-features switch on its command line, and Playwright puts its own before
# ours, so ours must repeat Playwright's list or silently turn those features back on: HttpsUpgrades would send
# an http:// scrape to https first, PaintHolding and AvoidCorsURLLoaderRestartOnRedirect change what route
# interception sees. A test reads the live browser's command line, so a new Playwright adding one fails CI.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
# Ours: nothing phones home on a closed network (translation models, autofill form signatures, cast discovery).
DISABLED_FEATURES = (
    *PLAYWRIGHT_DISABLED_FEATURES,
    "Translate",
    "DialMediaRouteProvider",
    "AutofillServerCommunication",
)

SYSTEM_CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
_MANAGED_LAYOUTS = (
    "chrome-linux/chrome",
    "chrome-linux64/chrome",
    "chrome-mac/Chromium.app/Contents/MacOS/Chromium",
)


class BrowserNotFound(RuntimeError):
    """No usable Chromium: the message says how to get one; `skipped` lists candidates that cannot start."""

    def __init__(self, message: str, skipped: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.skipped = skipped


@dataclass(frozen=True)
class FoundBrowser:
    executable: str | None  # None = let Playwright use its managed build
    source: str  # "BROWSA_CHROMIUM" | "playwright" | "system"
    skipped: tuple[str, ...] = ()  # candidates passed over, each with why it cannot start

    def describe(self) -> str:
        return f"{self.executable or 'Playwright-managed Chromium'} (from {self.source})"


def _playwright_roots() -> list[Path]:
    """Where Playwright keeps its browsers: PLAYWRIGHT_BROWSERS_PATH when set (as Playwright itself reads it), else
    its per-user cache."""
    base = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if base == "0":
        try:
            import playwright
        except ImportError:
            return []
        return [Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"]
    if base:
        return [Path(base).expanduser()]
    local = os.environ.get("LOCALAPPDATA")
    return [
        Path.home() / ".cache" / "ms-playwright",
        Path.home() / "Library" / "Caches" / "ms-playwright",
        *([Path(local) / "ms-playwright"] if local else []),
    ]


def playwright_managed() -> list[str]:
    """Paths of Playwright's downloaded Chromium builds, newest first."""
    found = []
    for root in _playwright_roots():
        if not root.is_dir():
            continue
        for d in sorted(root.glob("chromium-*"), reverse=True):
            for rel in _MANAGED_LAYOUTS:
                exe = d / rel
                if exe.exists():
                    found.append(str(exe))
    return found


def _system() -> list[str]:
    found = []
    for name in SYSTEM_CANDIDATES:
        candidate = shutil.which(name) if not name.startswith("/") else (name if Path(name).exists() else None)
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def find_chromium(explicit: str | None = None) -> FoundBrowser:
    """The browser to launch, or BrowserNotFound saying what to do.

    A candidate that cannot start here (a download missing system libraries, say) is passed over, and the
    browser found says which ones were and why.
    """
    if explicit:
        path = shutil.which(explicit) or explicit
        if not Path(path).exists():
            raise BrowserNotFound(
                f"BROWSA_CHROMIUM={explicit!r} does not exist; point it at a Chromium, or unset it and run"
                " `mcp-browsa install-browser`",
                (f"{explicit} (from BROWSA_CHROMIUM) does not exist",),
            )
        why = start_failure(path)
        if why is not None:
            raise BrowserNotFound(
                f"BROWSA_CHROMIUM={explicit!r} cannot start: {why}; point it at a working Chromium, or unset it and"
                " run `mcp-browsa install-browser`",
                (f"{path} (from BROWSA_CHROMIUM) cannot start: {why}",),
            )
        return FoundBrowser(path, "BROWSA_CHROMIUM")
    skipped: list[str] = []
    for source, paths in (("playwright", playwright_managed()), ("system", _system())):
        for path in paths:
            why = start_failure(path)
            if why is None:
                return FoundBrowser(path, source, tuple(skipped))
            skipped.append(f"{path} (from {source}) cannot start: {why}")
    passed_over = "".join(f"; {line}" for line in skipped)
    raise BrowserNotFound(
        f"no Chromium that starts was found{passed_over}; run `mcp-browsa install-browser`"
        " (or set BROWSA_CHROMIUM=/path/to/chrome)",
        tuple(skipped),
    )


def chromium_args(*, headed: bool = False) -> list[str]:
    """Flags for every launch: quiet on a closed network, workable as root and in containers."""
    args = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--disable-features=" + ",".join(DISABLED_FEATURES),
        "--disable-client-side-phishing-detection",
        "--metrics-recording-only",
        "--password-store=basic",
        "--use-mock-keychain",
        # A page's JavaScript heap stops here (the tab crashes) instead of eating the machine: a memory eater
        # reached 4.7 GB before Chromium's own limit.
        f"--js-flags=--max-old-space-size={TAB_HEAP_MIB}",
        *GUARD_LAUNCH_ARGS,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args
