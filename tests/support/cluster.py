"""Several mcp-browsa processes on one database: an HTTP front-end and `mcp-browsa worker`s, each its own process
with its own TMPDIR (so the Chromium each launched can be found, even after the process was killed).

Shared by the multi-process tests and `python -m bench scale`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.mcp_server import HttpServer, _private_tmpdir, server_env, spawn_http, stop_process
from tests.support.procs import Proc, descendants, kill_all, processes_naming, wait_gone

__all__ = ["Cluster", "Worker", "cluster", "spawn_worker"]


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    marker: str  # its TMPDIR: in the `--user-data-dir` of each Chromium it launched
    log: Path
    family: list[Proc] = field(default_factory=list)  # its descendants, recorded while it lives

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def remember_family(self) -> None:
        if self.proc.poll() is None:
            self.family = descendants(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-run, leaving its leases behind."""
        self.remember_family()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.remember_family()
        return stop_process(self.proc, sig, timeout)

    def leftovers(self, timeout: float = 20) -> list[Proc]:
        """Its Chromium (or anything else it started) still alive once `timeout` seconds have passed."""
        return wait_gone(self.family, self.marker, timeout)


@contextmanager
def spawn_worker(home: Path, name: str, *args: str, **env: str) -> Iterator[Worker]:
    """`mcp-browsa worker --worker-id NAME ARGS` on `home`, once it says it runs; killed with its browsers after."""
    tmp = _private_tmpdir()
    log = tmp / "worker.log"
    cmd = [sys.executable, "-m", "mcp_browsa", "worker", "--worker-id", name, *args]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd, env=server_env(home, TMPDIR=str(tmp), **env), stdout=subprocess.DEVNULL, stderr=err
        )
    worker = Worker(name, proc, str(tmp), log)
    try:
        deadline = time.monotonic() + 60
        while f":{name} running" not in worker.stderr():
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited with {proc.returncode}: {worker.stderr()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start in 60 s: {worker.stderr()[-2000:]}")
            time.sleep(0.05)
        yield worker
    finally:
        worker.stop(timeout=30)
        kill_all(worker.family + processes_naming(worker.marker))
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Cluster:
    front: HttpServer
    workers: list[Worker]

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)


@contextmanager
def cluster(home: Path, workers: int = 2, *worker_args: str, **env: str) -> Iterator[Cluster]:
    """A front-end that runs no browsers (`serve --transport http --no-auth --no-worker`) and `workers` workers
    named w1, w2, … on `home`; every process gets `env`."""
    with ExitStack() as stack:
        front = stack.enter_context(spawn_http(home, "--no-auth", "--no-worker", "--worker-id", "front", **env))
        started = [stack.enter_context(spawn_worker(home, f"w{i + 1}", *worker_args, **env)) for i in range(workers)]
        yield Cluster(front, started)
