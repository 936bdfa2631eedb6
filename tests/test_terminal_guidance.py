"""What a new user at a terminal is told: bare `mcp-browsa` says it waits for an MCP client (stdout stays the
protocol), and a private URL the guard refuses says the exact BROWSA_ALLOW_PRIVATE_NETWORK entry that allows it —
in the CLI, in `doctor` and in the tool error a client gets.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.mcp_server import call, envelope, installed_script, ok, run_cli, server_env, stdio_client
from tests.support.sites import Site

WAITING = "it is now waiting for an MCP client"


def _read_until(fd: int, needle: str, timeout: float) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
    return seen.decode(errors="replace")


def test_bare_command_at_a_terminal_says_it_is_an_mcp_server_waiting_and_how_to_try_it(tmp_path: Path) -> None:
    leader, follower = pty.openpty()  # stdin is a terminal, as when a person types `mcp-browsa`
    with subprocess.Popen(
        [str(installed_script())],
        env=server_env(tmp_path / "home"),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        os.close(follower)
        try:
            assert proc.stderr is not None and proc.stdout is not None
            told = _read_until(proc.stderr.fileno(), "--help", 60)
            assert proc.poll() is None  # still serving: a client could still connect
        finally:
            proc.terminate()
            out, rest = proc.communicate(timeout=30)
            os.close(leader)
    told += rest.decode(errors="replace")
    assert WAITING in told and "MCP server on stdio" in told
    assert "`mcp-browsa demo`" in told and "`mcp-browsa --help`" in told
    assert out == b""  # stdout is the protocol: nothing a client would misread


def test_bare_command_under_a_client_says_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(installed_script())],
        env=server_env(tmp_path / "home"),
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert WAITING not in proc.stderr and proc.stdout == ""


def test_cli_scrape_of_a_local_server_says_which_setting_allows_it(tmp_path: Path, site: Site) -> None:
    proc = run_cli(tmp_path / "home", "scrape", site.url("/foundation/article.html"))
    assert proc.returncode == 1
    assert "error: FORBIDDEN" in proc.stderr
    assert f"BROWSA_ALLOW_PRIVATE_NETWORK=127.0.0.1:{site.port}" in proc.stderr
    assert site.requests == []


def test_doctor_says_how_to_allow_a_local_server_and_checks_a_url(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "doctor", "--url", "http://localhost:3000/app")
    assert "BROWSA_ALLOW_PRIVATE_NETWORK=127.0.0.1:PORT" in proc.stdout
    assert "http://localhost:3000/app is blocked (ssrf:loopback)" in proc.stdout
    assert "BROWSA_ALLOW_PRIVATE_NETWORK=localhost:3000" in proc.stdout

    allowed = run_cli(
        tmp_path / "home", "doctor", "--url", "http://localhost:3000/app", BROWSA_ALLOW_PRIVATE_NETWORK="localhost:3000"
    )
    assert "private_network: localhost:3000" in allowed.stdout
    assert "http://localhost:3000/app is allowed" in allowed.stdout


@pytest.mark.anyio
async def test_the_tool_error_for_a_local_server_names_the_setting(tmp_path: Path, site: Site) -> None:
    async with stdio_client(tmp_path / "home") as client:
        literal = envelope(await call(client, "scrape", {"url": site.url("/foundation/article.html")}))
        assert literal["code"] == "FORBIDDEN"
        assert f"BROWSA_ALLOW_PRIVATE_NETWORK=127.0.0.1:{site.port}" in literal["error"]
        # A name that resolves to loopback is refused by the guard during the load, with the same advice.
        named = envelope(await call(client, "scrape", {"url": f"http://localhost:{site.port}/foundation/article.html"}))
        assert named["job_error_code"] == "BLOCKED"
        assert f"BROWSA_ALLOW_PRIVATE_NETWORK=localhost:{site.port}" in named["error"]
        assert ok(await call(client, "capacity"))["running"] == 0
    assert site.requests == []
