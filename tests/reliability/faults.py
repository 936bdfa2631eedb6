"""Faults the reliability tests inject, and what they measure: a server's Chromium processes, memory and file
descriptors from /proc, a killed browser, a full or failing disk under the data dir, a loopback-only network.

Disks: as root, a real tmpfs filled to the last byte and a real ext4 loop mount that the kernel turns read-only
(its `trigger_fs_error` knob, what ext4 does on a real disk error). Elsewhere, the nearest honest stand-ins:
RLIMIT_FSIZE set on the running server (the kernel refuses to grow any file: SQLite sees SQLITE_FULL) and a
read-only directory for a restarted server.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import Proc, descendants

__all__ = [
    "ProcSample",
    "browser_mains",
    "chromium",
    "fill_disk",
    "free_disk",
    "kill_browser",
    "loopback_only",
    "repair",
    "sample",
    "small_disk",
    "turn_read_only",
]


# -- processes ---------------------------------------------------------------------------------


def chromium(pid: int) -> list[Proc]:
    """Every Chromium process under the server `pid` (browser, zygotes, renderers, GPU and utility helpers)."""
    return [p for p in descendants(pid) if "chrom" in p.cmdline.lower()]


def browser_mains(pid: int) -> list[Proc]:
    """The server's Chromium browser processes (not their renderers or helpers)."""
    return [p for p in chromium(pid) if "--type=" not in p.cmdline]


def kill_browser(pid: int) -> list[Proc]:
    """SIGKILL the server's Chromium browser process(es), as a crash or the OOM killer would; returns them."""
    mains = browser_mains(pid)
    assert mains, f"no Chromium running under server {pid}"
    for p in mains:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
    return mains


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass(frozen=True)
class ProcSample:
    at: float
    server_pss_mib: float  # the Python server alone
    total_pss_mib: float  # the server, its Playwright driver and every Chromium process
    server_fds: int
    total_fds: int
    processes: int  # the server's descendants
    chromium: int  # Chromium processes under the server
    renderers: int


def sample(pid: int) -> ProcSample:
    """Memory (PSS, so shared pages count once), descriptors and process counts of a server and its family."""
    procs = descendants(pid)
    family = [pid, *(p.pid for p in procs)]
    browsers = [p for p in procs if "chrom" in p.cmdline.lower()]
    return ProcSample(
        at=time.monotonic(),
        server_pss_mib=round(_pss_kib(pid) / 1024, 1),
        total_pss_mib=round(sum(_pss_kib(p) for p in family) / 1024, 1),
        server_fds=_fds(pid),
        total_fds=sum(_fds(p) for p in family),
        processes=len(family) - 1,
        chromium=len(browsers),
        renderers=len([p for p in browsers if "--type=renderer" in p.cmdline]),
    )


# -- a loopback-only network -------------------------------------------------------------------

_LO_UP = (
    "import fcntl, os, socket, struct, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, struct.pack('16sH', b'lo', 0)))[1]\n"
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', flags | 1))\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def loopback_only() -> list[str]:
    """A command prefix that runs a program in a fresh network namespace whose only interface is loopback (up).

    Empty when this machine allows no network namespace; callers then keep every generated address local.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for flags in (["-n"], ["-r", "-n"]):
        prefix = [unshare, *flags, sys.executable, "-c", _LO_UP]
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", "import socket; print([n for _i, n in socket.if_nameindex()])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "['lo']":
            return prefix
    return []


# -- disks -------------------------------------------------------------------------------------


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@dataclass
class Disk:
    """A data dir on a disk of its own (or, without root, an ordinary directory)."""

    path: Path
    kind: str  # "tmpfs", "ext4" or "dir"
    image: Path | None = None
    filler: Path | None = None
    limited_pid: int | None = None  # the server whose RLIMIT_FSIZE stands in for a full disk

    @property
    def mounted(self) -> bool:
        return self.kind != "dir"


@contextlib.contextmanager
def small_disk(kind: str, size_mib: int = 48) -> Iterator[Disk]:
    """A fresh mount (`tmpfs` or an `ext4` loop image) at a new directory, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="mb-disk-"))
    if not _can_mount():
        try:
            yield Disk(root, "dir")
        finally:
            for sub in root.rglob("*"):
                with contextlib.suppress(OSError):
                    sub.chmod(0o700)
            shutil.rmtree(root, ignore_errors=True)
        return
    image: Path | None = None
    if kind == "tmpfs":
        _run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(root))
    else:
        image = Path(tempfile.mkdtemp(prefix="mb-img-")) / "disk.ext4"
        with image.open("wb") as fh:
            fh.truncate(size_mib * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", str(image))
        _run("mount", "-o", "loop,errors=remount-ro", str(image), str(root))
    try:
        yield Disk(root, kind, image=image)
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
        if image is not None:
            shutil.rmtree(image.parent, ignore_errors=True)


def fill_disk(disk: Disk, server_pid: int) -> None:
    """Leave no byte free for the server's data dir: fill the tmpfs, or (no root) cap the server's file sizes."""
    if disk.mounted:
        disk.filler = disk.path / "filler"
        fd = os.open(disk.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for block in (1 << 20, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * block)
        finally:
            os.close(fd)
        return
    # Every file the server writes is already bigger than this: any write that grows one fails with EFBIG.
    resource.prlimit(server_pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    disk.limited_pid = server_pid


def free_disk(disk: Disk) -> None:
    if disk.filler is not None:
        disk.filler.unlink()
        disk.filler = None
    if disk.limited_pid is not None:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(disk.limited_pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        disk.limited_pid = None


def turn_read_only(disk: Disk) -> None:
    """Make the data dir's filesystem refuse writes mid-run, the way ext4 does after a disk error."""
    if disk.kind == "ext4":
        device = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE", str(disk.path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("reliability test\n")
        return
    for sub in [disk.path, *disk.path.rglob("*")]:
        sub.chmod(0o555 if sub.is_dir() else 0o444)


def repair(disk: Disk) -> None:
    """After turn_read_only: check the filesystem and mount it writable again (or restore the permissions)."""
    if disk.kind == "ext4":
        assert disk.image is not None
        subprocess.run(["umount", str(disk.path)], check=True, capture_output=True, timeout=60)
        fsck = subprocess.run(["e2fsck", "-f", "-y", str(disk.image)], capture_output=True, text=True, timeout=120)
        assert fsck.returncode in (0, 1), fsck.stdout + fsck.stderr  # 1: errors corrected (the injected one)
        _run("mount", "-o", "loop,errors=remount-ro", str(disk.image), str(disk.path))
        return
    for sub in [disk.path, *disk.path.rglob("*")]:
        sub.chmod(0o700 if sub.is_dir() else 0o600)
