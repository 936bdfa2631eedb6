"""Finding a server's processes through /proc: its descendants, and browsers launched under its temp dir.

Each spawned server gets its own TMPDIR; Playwright puts Chromium's `--user-data-dir` there, so the browser of
that server (even one reparented after its parent died) names that dir on its command line. Helpers may not:
Chromium retitles its children and can cut their command lines short, so record descendants while they live.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.support.waits import wait_until_sync

__all__ = ["Proc", "alive", "descendants", "kill_all", "processes_naming", "wait_gone"]

_PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    start_ticks: int  # with the pid, names one process even if the pid is reused later
    cmdline: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time in clock ticks) from /proc/<pid>/stat, or None when it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may itself contain spaces or parentheses.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]


def _proc(pid: int) -> Proc | None:
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return None
    return Proc(pid, stat[2], _cmdline(pid))


def descendants(pid: int) -> list[Proc]:
    """Every live process below `pid`, following ppid chains."""
    children: dict[int, list[int]] = {}
    for p in _pids():
        stat = _stat(p)
        if stat is not None:
            children.setdefault(stat[1], []).append(p)
    found: list[Proc] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        proc = _proc(p)
        if proc is not None:
            found.append(proc)
        todo.extend(children.get(p, []))
    return found


def processes_naming(marker: str) -> list[Proc]:
    """Live processes whose command line contains `marker` (a server's private temp dir)."""
    found = []
    for p in _pids():
        if p == os.getpid():
            continue
        proc = _proc(p)
        if proc is not None and marker in proc.cmdline:
            found.append(proc)
    return found


def alive(proc: Proc) -> bool:
    """Still running (not a zombie), and still the same process rather than a reused pid."""
    stat = _stat(proc.pid)
    return stat is not None and stat[0] != "Z" and stat[2] == proc.start_ticks


def wait_gone(procs: list[Proc], marker: str | None = None, timeout: float = 20.0) -> list[Proc]:
    """Wait until none of `procs` (nor any process naming `marker`) is alive; returns the survivors."""
    left: list[Proc] = []

    def none_left() -> bool:
        left[:] = [p for p in procs if alive(p)]
        if marker is not None:
            known = {p.pid for p in left}
            left.extend(p for p in processes_naming(marker) if p.pid not in known)
        return not left

    with contextlib.suppress(AssertionError):  # the caller asserts on the survivors, naming them
        wait_until_sync(none_left, "every process gone", timeout=timeout, interval=0.1)
    return left


def kill_all(procs: list[Proc]) -> None:
    """SIGKILL exactly these processes (leftovers a test made), skipping any that already ended."""
    for p in procs:
        if alive(p):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
