"""Finding a Chromium to drive, the flags it needs, and getting one when none is found.

Order: BROWSA_CHROMIUM, then Playwright's managed build, then a system chromium/google-chrome.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mcp_browsa.browser.guard import GUARD_LAUNCH_ARGS

__all__ = [
    "TAB_HEAP_MIB",
    "BrowserNotFound",
    "FoundBrowser",
    "chromium_args",
    "find_chromium",
    "install_browser",
]

# JavaScript heap per renderer. Heavy web apps use a few hundred MB; more is a runaway page.
TAB_HEAP_MIB = 512

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


class BrowserNotFound(RuntimeError):
    """No usable Chromium: the message says how to get one."""


@dataclass(frozen=True)
class FoundBrowser:
    executable: str | None  # None = let Playwright use its managed build
    source: str  # "BROWSA_CHROMIUM" | "playwright" | "system"

    def describe(self) -> str:
        return f"{self.executable or 'Playwright-managed Chromium'} (from {self.source})"


def _playwright_managed() -> str | None:
    """Path of Playwright's downloaded Chromium, if that download happened."""
    try:
        from playwright._impl._driver import compute_driver_executable  # noqa: F401
    except Exception:
        return None
    base = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    roots = [Path(base)] if base and base != "0" else []
    roots += [Path.home() / ".cache" / "ms-playwright", Path.home() / "Library" / "Caches" / "ms-playwright"]
    for root in roots:
        if not root.is_dir():
            continue
        for d in sorted(root.glob("chromium-*"), reverse=True):
            for rel in (
                "chrome-linux/chrome",
                "chrome-linux64/chrome",
                "chrome-mac/Chromium.app/Contents/MacOS/Chromium",
            ):
                exe = d / rel
                if exe.exists():
                    return str(exe)
    return None


def find_chromium(explicit: str | None = None) -> FoundBrowser:
    """The browser to launch, or BrowserNotFound saying what to do."""
    if explicit:
        path = shutil.which(explicit) or explicit
        if not Path(path).exists():
            raise BrowserNotFound(f"BROWSA_CHROMIUM={explicit!r} does not exist; fix the path or unset it")
        return FoundBrowser(path, "BROWSA_CHROMIUM")
    managed = _playwright_managed()
    if managed:
        return FoundBrowser(managed, "playwright")
    for name in SYSTEM_CANDIDATES:
        candidate = shutil.which(name) if not name.startswith("/") else (name if Path(name).exists() else None)
        if candidate:
            return FoundBrowser(candidate, "system")
    raise BrowserNotFound(
        "no Chromium found; run `mcp-browsa install-browser` (or set BROWSA_CHROMIUM=/path/to/chrome)"
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
        "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider,AutofillServerCommunication",
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


def _run(cmd: list[str], log: list[str]) -> bool:
    log.append("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.append(f"  failed: {exc}")
        return False
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    log.extend("  " + line for line in tail)
    return proc.returncode == 0


def install_browser(*, force: bool = False) -> tuple[FoundBrowser, list[str]]:
    """Get a Chromium: Playwright's download first, Debian's package where that fails. Returns what was done."""
    log: list[str] = []
    if not force:
        try:
            found = find_chromium(os.environ.get("BROWSA_CHROMIUM"))
            log.append(f"already installed: {found.describe()}")
            return found, log
        except BrowserNotFound:
            pass
    if _run([sys.executable, "-m", "playwright", "install", "chromium"], log):
        try:
            return find_chromium(), log
        except BrowserNotFound:
            log.append("playwright reported success but no browser was found")
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt and is_root:
        log.append("Playwright's download failed; installing Debian's chromium with apt-get")
        env_ok = _run([apt, "update", "-qq"], log)
        if env_ok and _run([apt, "install", "-y", "-qq", "chromium"], log):
            return find_chromium(), log
    elif apt:
        log.append("Playwright's download failed; as root, `apt-get install chromium` would provide one")
    raise BrowserNotFound("could not install a browser:\n" + "\n".join(log))
