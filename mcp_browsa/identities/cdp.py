"""An identity's own Chromium process: its flags, its DevTools port on 127.0.0.1, stopping it, and killing orphans.

The fingerprint goes into flags and the environment where Chromium allows (UA, languages, screen, window, time zone),
so every page the CDP holder opens matches before any script runs; `keeper.py` covers the rest per target.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import Process

from mcp_browsa.browser.discovery import chromium_args
from mcp_browsa.browser.fingerprint import Fingerprint
from mcp_browsa.errors import UpstreamTimeout, UpstreamUnavailable

__all__ = [
    "ChromiumProcess",
    "chromium_version",
    "identity_args",
    "kill_orphan",
    "launch_chromium",
    "new_profile_dir",
    "remove_profile_dir",
]

log = logging.getLogger(__name__)

PROFILE_PREFIX = "browsa-agent-"
STDERR_NAME = "browsa-chromium.log"
_VERSION = re.compile(r"(\d+\.\d+\.\d+\.\d+)")


@functools.cache
def chromium_version(executable: str) -> str:
    """The full version of a Chromium binary (`chromium --version`), e.g. "156.0.8078.79"; cached per path."""
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpstreamUnavailable(f"cannot run {executable} --version: {exc}") from exc
    found = _VERSION.search(out.stdout) or _VERSION.search(out.stderr)
    if found is None:
        raise UpstreamUnavailable(f"{executable} --version printed no version: {out.stdout.strip()[:200]!r}")
    return found.group(1)


def new_profile_dir(agent_id: str) -> Path:
    """A fresh --user-data-dir under the temp dir; its name carries the agent id so an orphan can be recognised."""
    return Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{agent_id}-"))


def remove_profile_dir(path: Path | str | None) -> None:
    if path and Path(path).name.startswith(PROFILE_PREFIX):  # never delete anything we did not create
        shutil.rmtree(path, ignore_errors=True)


def identity_args(fp: Fingerprint, *, profile_dir: Path, proxy_port: int, headed: bool) -> list[str]:
    """Command-line flags for an identity's Chromium (without the executable)."""
    dsf = fp.device_scale_factor

    def physical(css: int) -> int:
        return round(css * dsf)

    # Windows keeps its taskbar at the bottom; macOS and GNOME bars sit on top.
    bar = physical(fp.screen_height - fp.avail_height)
    inset = f"workAreaBottom={bar}" if fp.os_type == "OS_TYPE_WINDOWS" else f"workAreaTop={bar}"
    # At a fractional scale (1.25) headless rounds the window up by a pixel or two, past the screen's edge,
    # which is a tell (a viewport wider than the screen); a window two pixels short of maximised is not.
    slack = 0 if float(dsf).is_integer() else 2
    args = [
        "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort: no race
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile_dir}",
        *chromium_args(headed=headed),
        # Everything goes through the URL guard; "<-loopback>" stops Chromium skipping the proxy for localhost.
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",
        "--disable-blink-features=AutomationControlled",
        "--no-default-browser-check",
        f"--user-agent={fp.user_agent}",
        f"--lang={fp.locale}",
        f"--accept-lang={','.join(fp.languages)}",
        f"--window-size={fp.outer_width - slack},{fp.outer_height - slack}",
    ]
    if not headed:
        args += [
            "--headless",
            f"--screen-info={{{physical(fp.screen_width)}x{physical(fp.screen_height)} devicePixelRatio={dsf} {inset}}}",
        ]
    return [*args, "about:blank"]


@dataclass
class ChromiumProcess:
    """A running Chromium with its DevTools endpoint. It leads its own process group, so stopping it stops all."""

    process: Process
    profile_dir: Path
    port: int
    ws_path: str
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.ws_path}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def stderr_tail(self, limit: int = 1500) -> str:
        try:
            return (self.profile_dir / STDERR_NAME).read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    async def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM the group, SIGKILL it after `grace` seconds, reap it, and delete the profile."""
        with anyio.CancelScope(shield=True):
            if self.running:
                _signal_group(self.pid, signal.SIGTERM)
                with anyio.move_on_after(grace):
                    await self.process.wait()
            # Helpers (renderer, GPU, zygote) share the group; make sure none outlives the browser.
            _signal_group(self.pid, signal.SIGKILL)
            if self.running:
                with anyio.move_on_after(5):
                    await self.process.wait()
            await self.process.aclose()
            remove_profile_dir(self.profile_dir)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def launch_chromium(
    executable: str,
    args: list[str],
    *,
    profile_dir: Path,
    env: dict[str, str],
    timeout: float = 30.0,
) -> ChromiumProcess:
    """Start Chromium and wait until its DevTools endpoint is listening: UpstreamTimeout when it is too slow to,
    UpstreamUnavailable when it exits first."""
    port_file = profile_dir / "DevToolsActivePort"
    with (profile_dir / STDERR_NAME).open("wb") as err:
        process = await anyio.open_process(
            [executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **env},
            start_new_session=True,  # a Ctrl-C at the terminal must not kill it before its state is saved
        )
    proc = ChromiumProcess(process, profile_dir, 0, "")
    try:
        with anyio.fail_after(timeout):
            while True:
                lines = _read_lines(port_file)
                if len(lines) >= 2 and lines[0].isdigit():
                    proc.port, proc.ws_path = int(lines[0]), lines[1]
                    return proc
                if not proc.running:
                    raise UpstreamUnavailable(
                        f"Chromium exited with code {process.returncode} before its DevTools port opened: "
                        f"{proc.stderr_tail(600).strip() or 'no output'}"
                    )
                await anyio.sleep(0.01)
    except TimeoutError:
        tail = proc.stderr_tail(600).strip()
        await proc.stop(grace=0)
        raise UpstreamTimeout(
            f"Chromium did not open its DevTools port within {timeout:.0f} s (BROWSA_BROWSER_START_TIMEOUT); "
            f"the machine may be busy: try again. {tail}".strip()
        ) from None
    except BaseException:
        await proc.stop(grace=0)
        raise


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _cmdline(pid: int) -> str | None:
    """The command line of a process, or None when it is gone (Linux /proc first, else `ps`)."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    try:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def kill_orphan(pid: int | None, profile_dir: str | None) -> bool:
    """Kill an identity's Chromium left by a dead server; True when one was found and killed.

    The pid alone could name an unrelated process by now, so it is killed only when its command line still
    names the agent's own profile dir. The profile dir is removed either way.
    """
    killed = False
    if pid and profile_dir:
        cmdline = _cmdline(pid)
        if cmdline is not None and f"--user-data-dir={profile_dir}" in cmdline:
            _signal_group(pid, signal.SIGKILL)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            killed = True
    remove_profile_dir(profile_dir)
    return killed
