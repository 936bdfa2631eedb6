"""A throw-away PostgreSQL cluster for the test session: Debian's binaries, a free loopback port, a temp data dir.

PostgreSQL refuses to run as root, so as root (CI) the cluster runs as the `postgres` system user. It is started on
first use and stopped at the end of the session. Each test gets a database of its own (`fresh_database`).
Missing binaries are installed as the browser is (apt-get, where it is usable), and otherwise fail loudly: a
PostgreSQL test that skipped would hide a backend nobody checked.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

__all__ = ["Cluster", "ensure_postgresql", "pg_bin", "running_cluster"]

_INSTALL_HINT = (
    "the PostgreSQL half of the storage tests needs PostgreSQL's server binaries in /usr/lib/postgresql/*/bin"
    " (Debian/Ubuntu: `sudo apt-get install -y postgresql`; .ci/run installs it)"
)


def _installed() -> list[str]:
    return sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))


def ensure_postgresql() -> None:
    """Install Debian's PostgreSQL when it is missing and apt-get is usable (root); otherwise leave it to pg_bin."""
    if _installed() or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"installing PostgreSQL failed ({' '.join(argv)}): {done.stderr.strip()[-1000:]}")


def pg_bin() -> Path:
    """The newest installed server's bin directory, installing PostgreSQL first where that can be done."""
    ensure_postgresql()
    found = _installed()
    if not found:
        raise RuntimeError(f"PostgreSQL is not installed: {_INSTALL_HINT}")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.port = port

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def fresh_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    bin_dir = pg_bin()
    base = Path(tempfile.mkdtemp(prefix="browsa-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    try:
        subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
        )
        # Durability off: a test cluster dies with the session anyway, and fsyncs would dominate its time.
        options = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace") + (log.read_text() if log.exists() else "")
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"the test PostgreSQL cluster did not start: {detail.strip()[-2000:]}") from exc
    try:
        yield Cluster(base, port)
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
