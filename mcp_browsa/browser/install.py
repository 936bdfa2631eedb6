"""`mcp-browsa install-browser`: get a Chromium that starts on this machine, and say exactly what was done.

Playwright's download first; when that build cannot start (system libraries missing on a fresh Debian/Ubuntu),
`playwright install-deps`; when the download fails or still cannot start, Debian's `chromium` via apt-get.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from mcp_browsa.browser.discovery import BrowserNotFound, FoundBrowser, find_chromium, playwright_managed
from mcp_browsa.browser.startcheck import start_failure

__all__ = ["install_browser"]

_PLAYWRIGHT = [sys.executable, "-m", "playwright"]


def _run(cmd: list[str], log: list[str]) -> bool:
    log.append("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.append(f"  failed: {exc}")
        return False
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    log.extend("  " + line for line in tail)
    return proc.returncode == 0


def _apt_as_root() -> str | None:
    """apt-get's path when this process may use it (root on a Debian-like system), else None."""
    apt = shutil.which("apt-get")
    return apt if apt and hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _playwright_download(log: list[str]) -> FoundBrowser | None:
    """Playwright's Chromium, downloaded, and made to start (its system libraries installed) where root may."""
    if not _run([*_PLAYWRIGHT, "install", "chromium"], log):
        log.append("Playwright's download failed")
        return None
    managed = playwright_managed()
    if not managed:
        log.append("Playwright reported success but its Chromium is not where it keeps browsers")
        return None
    exe = managed[0]
    why = start_failure(exe)
    if why is None:
        return FoundBrowser(exe, "playwright")
    log.append(f"Playwright's Chromium at {exe} cannot start: {why}")
    if _apt_as_root() is None:
        log.append("its system libraries need root: `sudo playwright install-deps chromium` would install them")
        return None
    log.append("installing the system libraries it needs")
    if _run([*_PLAYWRIGHT, "install-deps", "chromium"], log):
        why = start_failure(exe, recheck=True)
        if why is None:
            return FoundBrowser(exe, "playwright")
        log.append(f"it still cannot start: {why}")
    return None


def _debian_chromium(log: list[str]) -> FoundBrowser | None:
    apt = _apt_as_root()
    if apt is None:
        if shutil.which("apt-get"):
            log.append("as root, `apt-get install chromium` would provide one")
        return None
    log.append("installing Debian's chromium with apt-get")
    if _run([apt, "update", "-qq"], log) and _run([apt, "install", "-y", "-qq", "chromium"], log):
        try:
            return find_chromium()
        except BrowserNotFound as exc:
            log.append(str(exc))
    return None


def install_browser(*, force: bool = False, chromium: str | None = None) -> tuple[FoundBrowser, list[str]]:
    """A Chromium that starts here, and the log of what was done to get it; BrowserNotFound (with that log)
    when nothing worked. `chromium` is the operator's own choice (BROWSA_CHROMIUM), looked at first."""
    log: list[str] = []
    if not force:
        try:
            found = find_chromium(chromium)
        except BrowserNotFound as exc:
            log.extend(f"passed over {line}" for line in exc.skipped)
        else:
            log.append(f"already installed: {found.describe()}")
            log.extend(f"passed over {line}" for line in found.skipped)
            return found, log
    got = _playwright_download(log) or _debian_chromium(log)
    if got is None:
        raise BrowserNotFound("could not install a browser that starts:\n" + "\n".join(log))
    log.append(f"using {got.describe()}")
    if chromium:
        log.append("BROWSA_CHROMIUM is set, so mcp-browsa keeps launching that one: unset it to use this browser")
    return got, log
