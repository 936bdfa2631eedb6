"""A browser slower to start than BROWSA_BROWSER_START_TIMEOUT: the call fails UPSTREAM_TIMEOUT, marked retryable,
not UPSTREAM_UNAVAILABLE; the same call made again once the machine has caught up succeeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_browsa.browser.discovery import FoundBrowser
from tests.support.mcp_server import call, envelope, ok, stdio_client
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


def slow_chromium(tmp_path: Path, real: str) -> tuple[Path, Path]:
    """A Chromium that answers `--version` at once but, while `slow` exists, hangs instead of starting."""
    slow = tmp_path / "slow"
    slow.touch()
    exe = tmp_path / "chromium-slow"
    exe.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" --version "*) exec {real} "$@";; esac\n'
        f"[ -e {slow} ] && exec sleep 60\n"
        f'exec {real} "$@"\n'
    )
    exe.chmod(0o755)
    return exe, slow


async def test_a_browser_too_slow_to_start_is_upstream_timeout_and_a_retry_succeeds(
    tmp_path: Path, chromium: FoundBrowser, site: Site
) -> None:
    assert chromium.executable is not None
    exe, slow = slow_chromium(tmp_path, chromium.executable)
    url = site.url("/foundation/details.html")
    async with stdio_client(
        tmp_path / "home",
        BROWSA_CHROMIUM=str(exe),
        BROWSA_BROWSER_START_TIMEOUT="2",
        BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{site.port}",
    ) as client:
        before = ok(await call(client, "credits"))["balance"]
        body = envelope(await call(client, "scrape", {"url": url}))
        assert body["code"] == "UPSTREAM_TIMEOUT", body
        assert body["retryable"] is True
        assert "did not start within 2 s" in body["error"] and "try again" in body["error"]
        assert ok(await call(client, "credits"))["balance"] == before

        slow.unlink()
        page = ok(await call(client, "scrape", {"url": url}))
        assert page["status"] == "completed"
    assert site.requests  # the retry reached the page
