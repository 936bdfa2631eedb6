"""A Chromium that cannot start here (a download missing system libraries): discovery passes it over and says why,
and a server left with no browser at all answers UPSTREAM_UNAVAILABLE, charges nothing and keeps serving.

The broken browser is a script that fails the way the dynamic loader does; it sits where discovery looks first
(PLAYWRIGHT_BROWSERS_PATH), and a working Chromium is put on PATH as the system one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mcp_browsa.browser.discovery import FoundBrowser
from tests.support.mcp_server import call, envelope, finished, ok, run_cli, stdio_client
from tests.support.sites import Site

LOADER_ERROR = (
    "error while loading shared libraries: libnss3.so: cannot open shared object file: No such file or directory"
)


@pytest.fixture
def broken_download(tmp_path: Path) -> Path:
    """A Playwright-managed "Chromium" under its own PLAYWRIGHT_BROWSERS_PATH that exits as a missing library makes it."""
    exe = tmp_path / "ms-playwright" / "chromium-9999" / "chrome-linux64" / "chrome"
    exe.parent.mkdir(parents=True)
    exe.write_text(f'#!/bin/sh\necho "$0: {LOADER_ERROR}" >&2\nexit 127\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def env(tmp_path: Path, broken_download: Path, chromium: FoundBrowser) -> dict[str, str]:
    """Discovery sees the broken download first, then the machine's real Chromium as `chromium` on PATH."""
    assert chromium.executable is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").symlink_to(chromium.executable)
    return {
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "ms-playwright"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }


def test_doctor_passes_over_a_browser_that_cannot_start_and_says_why(
    tmp_path: Path, env: dict[str, str], broken_download: Path
) -> None:
    proc = run_cli(tmp_path / "home", "doctor", "--json", **env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["browser"] == f"{tmp_path / 'bin' / 'chromium'} (from system)"
    assert report["browser_version"] and "FAILED" not in report["browser_version"]  # the good one really started
    [skipped] = report["skipped"]
    assert skipped.startswith(f"{broken_download} (from playwright) cannot start: exits with code 127:")
    assert LOADER_ERROR in skipped

    text = run_cli(tmp_path / "home", "doctor", **env)
    assert f"skipped: {broken_download} (from playwright) cannot start" in text.stdout


def test_install_browser_keeps_the_one_that_starts_and_reports_the_one_passed_over(
    tmp_path: Path, env: dict[str, str], broken_download: Path
) -> None:
    proc = run_cli(tmp_path / "home", "install-browser", **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"browser: {tmp_path / 'bin' / 'chromium'} (from system)\n"
    assert f"already installed: {tmp_path / 'bin' / 'chromium'} (from system)" in proc.stderr
    assert f"passed over {broken_download} (from playwright) cannot start" in proc.stderr


@pytest.mark.anyio
async def test_a_server_with_no_browser_that_starts_answers_upstream_unavailable_and_charges_nothing(
    tmp_path: Path, broken_download: Path, site: Site
) -> None:
    url = site.url("/foundation/details.html")
    stderr = tmp_path / "server.stderr"
    with stderr.open("w") as errlog:
        async with stdio_client(
            tmp_path / "home",
            errlog=errlog,
            BROWSA_CHROMIUM=str(broken_download),
            BROWSA_ALLOW_PRIVATE_NETWORK="1",
            BROWSA_LOG_LEVEL="INFO",
        ) as client:
            before = ok(await call(client, "credits"))

            body = envelope(await call(client, "scrape", {"url": url}))
            assert body["code"] == "UPSTREAM_UNAVAILABLE"
            assert "cannot start" in body["error"] and LOADER_ERROR in body["error"]
            assert "mcp-browsa install-browser" in body["error"]

            # Still serving: a batch is refused the same way, as a whole, with its rows ended rather than left queued.
            batch = ok(await call(client, "batch", {"urls": [url, url + "?again=1"]}))
            batch = await finished(client, batch["id"], 60)
            assert batch["status"] == "failed" and batch["error_code"] == "UPSTREAM_UNAVAILABLE"
            assert [row["status"] for row in batch["items"]] == ["failed", "failed"]

            after = ok(await call(client, "credits"))
            assert after["balance"] == before["balance"]
            assert after["ledger"] == before["ledger"]  # not charged then refunded: never charged
            assert ok(await call(client, "capacity"))["running"] == 0
    assert site.requests == []  # no browser ever reached the page
    assert "Traceback" not in stderr.read_text()
