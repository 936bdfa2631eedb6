"""Remote browsers for tests: a Playwright server (`playwright run-server`) and a Chromium with a DevTools port.

Each runs in a private TMPDIR, which every Chromium it starts names on its command line (its profile lives there), so
teardown can prove that no browser outlived it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from tests.support.procs import kill_all, wait_gone
from tests.support.waits import wait_until_sync

__all__ = ["cdp_chromium", "free_port", "playwright_server"]

WEBRTC_ON_PROXY = "--webrtc-ip-handling-policy=disable_non_proxied_udp"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        return check()

    wait_until_sync(ready, f"{what} ready", timeout=timeout)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def _owned(command: Callable[[Path], list[str]], what: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command(tmp)` in a private TMPDIR; afterwards stop it and assert that no process naming that dir is left."""
    tmp = Path(tempfile.mkdtemp(prefix="remote-"))
    proc = subprocess.Popen(
        command(tmp),
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)  # a Playwright server closes the browsers it launched, then exits
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        left = wait_gone([], marker=str(tmp))
        kill_all(left)
        shutil.rmtree(tmp, ignore_errors=True)
        assert left == [], f"{what} left browsers running: {[p.cmdline[:120] for p in left]}"


@contextmanager
def playwright_server(executable: str, *, unsafe: bool = True) -> Iterator[str]:
    """`playwright run-server` on a loopback port; yields a BROWSA_BROWSER_WS entry that launches `executable`.

    `playwright install` cannot download here, so the endpoint's launch options name the system Chromium: a server
    takes them (and our launch arguments) only with --unsafe.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "playwright", "run-server", "--port", str(port), "--host", "127.0.0.1"]
    with _owned(lambda _tmp: [*cmd, *(["--unsafe"] if unsafe else [])], "the Playwright server") as proc:
        _wait_for(lambda: _answers(port), "the Playwright server", proc)
        options = quote(json.dumps({"executablePath": executable}), safe="")
        yield f"ws://127.0.0.1:{port}/?launch-options={options}"


@contextmanager
def cdp_chromium(executable: str, *, webrtc_on_proxy: bool = True) -> Iterator[str]:
    """A headless Chromium with `--remote-debugging-port` on loopback; yields its http:// CDP endpoint."""
    port = free_port()

    def command(tmp: Path) -> list[str]:
        return [
            executable,
            "--headless",
            f"--remote-debugging-port={port}",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={tmp / 'profile'}",
            "--no-first-run",
            "--disable-gpu",
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            *([WEBRTC_ON_PROXY] if webrtc_on_proxy else []),
            "about:blank",
        ]

    with _owned(command, "Chromium") as proc:
        _wait_for(lambda: _answers(port), "Chromium's DevTools port", proc)
        yield f"http://127.0.0.1:{port}"
