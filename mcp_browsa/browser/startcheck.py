"""Whether a Chromium executable can start on this machine at all, asked once per file version per process.

A Chromium downloaded onto a fresh Debian/Ubuntu often lacks system libraries (libnss3, libgbm, …): the file is there
but the dynamic loader refuses it.
"""

from __future__ import annotations

import os
import subprocess
import threading

__all__ = ["PROBE_TIMEOUT", "start_failure"]

# `--version` answers in a fraction of a second; much longer means the machine is starved or the binary is hung.
PROBE_TIMEOUT = 30.0

_lock = threading.Lock()
_verdicts: dict[tuple[str, int], str | None] = {}


def start_failure(executable: str, *, recheck: bool = False) -> str | None:
    """None when `executable` starts; otherwise why not, in one line.

    The probe is `--version`: it goes through the same dynamic loader as a real start, so a missing shared library
    fails it the same way, in ~0.2 s instead of the seconds a headless page load costs. It passes no sandbox or
    headless flags, so it cannot fail for reasons the real launch (with its own flags) would not. The verdict is
    kept per path and modification time; `recheck` asks again (after installing the libraries it lacked).
    """
    try:
        key = (os.path.realpath(executable), os.stat(executable).st_mtime_ns)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    with _lock:
        if not recheck and key in _verdicts:
            return _verdicts[key]
    verdict = _probe(executable)
    with _lock:
        _verdicts[key] = verdict
    return verdict


def _probe(executable: str) -> str | None:
    try:
        proc = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`--version` did not answer in {PROBE_TIMEOUT:g} s"
    except OSError as exc:
        return f"cannot be run ({exc.strerror or exc})"
    if proc.returncode == 0:
        return None
    # The loader's complaint ("error while loading shared libraries: libnss3.so: …") is the last line it printed.
    said = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    reason = said[-1][:300] if said else "no output"
    return f"exits with code {proc.returncode}: {reason}"
