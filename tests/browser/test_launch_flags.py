"""The flags the browser actually runs with. Chromium keeps only the last `--disable-features` switch, and
Playwright passes its own list before ours: ours must carry every feature Playwright turns off, or those
features come back on (HTTPS upgrades of http:// URLs among them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_browsa.app import Browsa
from mcp_browsa.browser.discovery import FoundBrowser
from mcp_browsa.config import load_settings
from tests.support.procs import descendants

pytestmark = pytest.mark.anyio


def _switch_values(argv: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"{name}=")]


async def test_the_browser_turns_off_every_feature_any_of_its_disable_switches_names(
    tmp_path: Path, chromium: FoundBrowser
) -> None:
    settings = load_settings({"BROWSA_HOME": str(tmp_path), "BROWSA_CHROMIUM": str(chromium.executable)})
    async with Browsa(settings).running() as app:
        await app.host.browser()
        browsers = [p for p in descendants(os.getpid()) if "chrom" in p.cmdline.lower() and "--type=" not in p.cmdline]
        assert len(browsers) == 1, browsers
        argv = (Path("/proc") / str(browsers[0].pid) / "cmdline").read_bytes().decode().split("\0")
    switches = _switch_values(argv, "--disable-features")
    assert len(switches) >= 2, "Playwright's own list and ours were both expected on the command line"
    named = {f for value in switches for f in value.split(",") if f}
    effective = set(switches[-1].split(","))  # the one Chromium keeps
    assert named - effective == set()
    assert {"HttpsUpgrades", "PaintHolding", "Translate", "AutofillServerCommunication"} <= effective
