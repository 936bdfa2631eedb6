"""A server launches its browser as it starts, beside loading the rest, so the first call finds Chromium up; commands
that never run a browser start none.

The Chromium here is a script in front of the real one: it writes each launch (not discovery's `--version`) to a
file, and while a `hold` file exists it waits before starting, which stands for a browser slow to come up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcp_browsa.browser.discovery import FoundBrowser
from tests.support.mcp_server import call, ok, run_cli, server_env, stdio_client
from tests.support.sites import Site
from tests.support.waits import wait_until, wait_until_sync

LAUNCHED = "launched"


class Watched:
    """The script's paths: where it notes its launches, and the file that holds a launch back while it exists."""

    def __init__(self, tmp_path: Path, real: str) -> None:
        self.exe = tmp_path / "chromium-watched"
        self.log = tmp_path / "launches.log"
        self.hold = tmp_path / "hold"
        self.log.touch()
        self.exe.write_text(
            "#!/bin/sh\n"
            f'case " $* " in *" --version "*) exec {real} "$@";; esac\n'
            f"echo {LAUNCHED} $$ >> {self.log}\n"
            f"while [ -e {self.hold} ]; do sleep 0.05; done\n"
            f'exec {real} "$@"\n'
        )
        self.exe.chmod(0o755)

    def launches(self) -> int:
        return self.log.read_text().count(LAUNCHED)

    def running(self) -> list[int]:
        """The launched browsers still alive (the script keeps its pid when it becomes Chromium)."""
        pids = [int(line.split()[1]) for line in self.log.read_text().splitlines()]
        return [pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.fixture
def watched(tmp_path: Path, chromium: FoundBrowser) -> Watched:
    assert chromium.executable is not None
    return Watched(tmp_path, chromium.executable)


@pytest.mark.anyio
async def test_a_server_launches_its_browser_before_any_call_and_a_scrape_arriving_meanwhile_gets_its_page(
    tmp_path: Path, watched: Watched, site: Site
) -> None:
    watched.hold.touch()
    url = site.url("/foundation/details.html")
    async with stdio_client(
        tmp_path / "home", BROWSA_CHROMIUM=str(watched.exe), BROWSA_ALLOW_PRIVATE_NETWORK=f"127.0.0.1:{site.port}"
    ) as client:
        # No tool called yet, and Chromium is already on its way up.
        await wait_until(lambda: watched.launches() == 1, "a launch before the first call", timeout=60)

        results: list[dict[str, object]] = []

        async def scrape() -> None:
            results.append(ok(await call(client, "scrape", {"url": url})))

        async with anyio.create_task_group() as tg:
            tg.start_soon(scrape)

            async def queued_or_running() -> bool:
                jobs = ok(await call(client, "list_jobs", {"kind": "scrape"}))["jobs"]
                return bool(jobs) and jobs[0]["status"] in ("queued", "running")

            await wait_until(queued_or_running, "the scrape waiting for the browser", timeout=60)
            assert not results and site.requests == []  # it is waiting for the browser still held back
            watched.hold.unlink()
        [page] = results
        assert page["status"] == "completed"
        assert "markdown" in page["result"]  # type: ignore[operator]
    assert watched.launches() == 1  # the job took the browser launched early: no second launch


def test_a_server_that_cannot_start_leaves_no_browser_behind(tmp_path: Path, watched: Watched) -> None:
    watched.hold.touch()  # the launch is under way, held, when the unknown tool name stops the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_browsa", "--tools", "no_such_tool"],
        env=server_env(tmp_path / "home", BROWSA_CHROMIUM=str(watched.exe)),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "unknown tool group, tool or profile: no_such_tool" in stderr
    assert "Traceback" not in stderr
    wait_until_sync(lambda: not watched.running(), "the held browser stopped with the server", timeout=30)


@pytest.mark.parametrize("command", [("jobs",), ("credits",), ("keys", "list"), ("webhooks", "list")])
def test_commands_that_run_no_browser_start_none(tmp_path: Path, watched: Watched, command: tuple[str, ...]) -> None:
    proc = run_cli(tmp_path / "home", *command, BROWSA_CHROMIUM=str(watched.exe))
    assert proc.returncode == 0, proc.stderr
    assert watched.launches() == 0


@pytest.mark.anyio
async def test_a_front_end_without_workers_starts_no_browser(tmp_path: Path, watched: Watched) -> None:
    async with stdio_client(tmp_path / "home", "serve", "--no-worker", BROWSA_CHROMIUM=str(watched.exe)) as client:
        assert ok(await call(client, "credits"))["balance"] > 0
    assert watched.launches() == 0
