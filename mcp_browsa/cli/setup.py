"""Getting and checking an install: `mcp-browsa install-browser`, `doctor` and `demo`."""

from __future__ import annotations

import argparse
from typing import Any

from mcp_browsa import __version__
from mcp_browsa.browser.discovery import BrowserNotFound, find_chromium
from mcp_browsa.browser.install import install_browser
from mcp_browsa.browser.private_hint import private_network_status, url_verdict
from mcp_browsa.cli.output import emit, say
from mcp_browsa.config import Settings
from mcp_browsa.errors import BrowsaError
from mcp_browsa.tools.selection import ToolSelectionError

__all__ = ["cmd_demo", "cmd_doctor", "cmd_install_browser", "ensure_browser"]


def ensure_browser(settings: Settings) -> None:
    """Find a browser, or get one (saying what is done) so a first run works on a fresh machine."""
    if settings.browser_ws:
        return
    try:
        find_chromium(settings.chromium)
    except BrowserNotFound:
        say("No Chromium that starts was found; getting one (Playwright's download, else Debian's chromium)…")
        found, steps = install_browser(chromium=settings.chromium)
        for line in steps:
            say("  " + line)
        say(f"Using {found.describe()}")


def cmd_install_browser(settings: Settings, args: argparse.Namespace) -> int:
    try:
        found, steps = install_browser(force=args.force, chromium=settings.chromium)
    except ToolSelectionError as exc:
        say(f"configuration error: {exc}")
        return 2
    except BrowserNotFound as exc:
        say(str(exc))
        return 1
    for line in steps:
        say(line)
    print(f"browser: {found.describe()}")
    return 0


async def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.storage.db import Database

    report: dict[str, Any] = {"version": __version__, "data_dir": str(settings.home)}
    ok = True
    skipped: tuple[str, ...] = ()
    if settings.browser_ws:
        from mcp_browsa.browser.remote import check_remote_browsers, unreachable_proxy_warning

        report["browser"], ok = await check_remote_browsers(settings)
        report["egress_listen"] = settings.egress_listen or "loopback, a port per context"
        if warning := unreachable_proxy_warning(settings):
            report["egress_warning"] = warning
    else:
        try:
            found = find_chromium(settings.chromium)
            report["browser"] = found.describe()
            skipped = found.skipped
        except ToolSelectionError as exc:
            say(f"configuration error: {exc}")
            return 2
        except BrowserNotFound as exc:
            report["browser"] = f"MISSING — {exc}"
            skipped = exc.skipped
            ok = False
    if skipped:
        report["skipped"] = list(skipped)
    db = Database(settings.database)
    try:
        await db.open()
        report["db"] = db.describe()
        report["db_server"] = await db.server_version()
        report["schema_version"] = await db.schema_version()
        report["integrity"] = await db.integrity_check()
    except Exception as exc:
        report["db"] = f"ERROR — {exc}"
        ok = False
    finally:
        await db.close()
    if ok and not settings.browser_ws:
        from mcp_browsa.browser.host import BrowserHost

        host = BrowserHost(settings)
        try:
            browser = await host.browser()
            report["browser_version"] = browser.version
        except BrowsaError as exc:
            report["browser_version"] = f"FAILED TO START — {exc.message}"
            ok = False
        finally:
            await host.close()
    report["max_burners"] = settings.max_burners
    report["private_network"] = private_network_status(settings.allow_private_network)
    if args.url:
        report["url"] = url_verdict(settings.allow_private_network, args.url)
    emit(report, args.json, _report_text)
    return 0 if ok else 1


def _report_text(report: dict[str, Any]) -> str:
    lines = []
    for key, value in report.items():
        for n, line in enumerate(value if isinstance(value, list) else [value]):
            lines.append(f"{key if n == 0 else '':>16}: {line}")
    return "\n".join(lines)


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_browsa.cli.demo import run_demo

    ensure_browser(settings)
    return await run_demo(settings, as_json=args.json)
