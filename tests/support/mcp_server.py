"""Run `mcp-browsa` as a real subprocess and talk to it with the `mcp` SDK client (stdio or HTTP).

Tests use these the way Claude Desktop or Cursor would: spawn, list tools, call them, shut down.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
import mcp_types
from anyio.abc import Process
from mcp import Client, StdioServerParameters
from mcp.client import Transport
from mcp.client.stdio import stdio_client as stdio_client_transport
from mcp.shared.message import SessionMessage
from mcp_types import CallToolResult

from tests.support.procs import Proc, descendants, kill_all, processes_naming
from tests.support.waits import wait_until_sync

__all__ = [
    "HttpServer",
    "StdioServer",
    "call",
    "envelope",
    "finished",
    "free_port",
    "installed_script",
    "ok",
    "run_cli",
    "server_env",
    "short_home",
    "spawn_http",
    "spawn_stdio",
    "stdio_client",
    "stop_process",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a server subprocess: its own data dir, quiet logs, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROWSA_")}
    env.update({"BROWSA_HOME": str(home), "BROWSA_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@contextmanager
def short_home() -> Iterator[Path]:
    """A fresh data dir, removed afterwards. Short on purpose: Chromium's singleton socket under a server's TMPDIR
    must stay under 108 bytes, and pytest's tmp_path can be long."""
    path = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _private_tmpdir() -> Path:
    """A TMPDIR for one server. Playwright puts Chromium's `--user-data-dir` in it, so its path names that
    server's browsers. Kept short: Chromium refuses to start when its socket path passes 107 bytes."""
    return Path(tempfile.mkdtemp(prefix="browsa-"))


def installed_script() -> Path:
    """Where pip put the `mcp-browsa` console script for this Python: the command users actually run."""
    return Path(sysconfig.get_path("scripts")) / "mcp-browsa"


def _console_script() -> list[str]:
    """The installed `mcp-browsa` entry point (what users run), else `python -m mcp_browsa`."""
    script = installed_script()
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcp_browsa"]


def run_cli(home: Path, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `mcp-browsa ARGS` to completion on `home`; stdout and stderr captured as text."""
    return subprocess.run(
        [*_console_script(), *args],
        env=server_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@asynccontextmanager
async def stdio_client(
    home: Path,
    *args: str,
    command: Sequence[str] = (sys.executable, "-m", "mcp_browsa"),
    errlog: TextIO = sys.stderr,
    options: dict[str, Any] | None = None,
    **env: str,
) -> AsyncIterator[Client]:
    """A connected client whose server is `command ARGS` (default `python -m mcp_browsa`) spawned over stdio.

    The server's stderr goes to `errlog` (a real file: it becomes the process's stderr). `options` go to the
    `Client` (mode, sampling_callback, …).
    """
    params = StdioServerParameters(command=command[0], args=[*command[1:], *args], env=server_env(home, **env))
    transport: Transport = stdio_client_transport(params, errlog=errlog)  # type: ignore[assignment]
    async with Client(transport, read_timeout_seconds=180, **(options or {})) as client:
        yield client


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None, **kw: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments or {}, **kw)


def envelope(result: CallToolResult) -> dict[str, Any]:
    """The error envelope of a failed call (asserting it is one)."""
    assert result.is_error, f"expected an error, got {result.structured_content}"
    text = result.content[0].text  # type: ignore[union-attr]
    body = json.loads(text)
    assert set(body) >= {"code", "error", "request_id"}, body
    return body  # type: ignore[no-any-return]


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful call (asserting it succeeded)."""
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    return dict(result.structured_content)


TERMINAL = ("completed", "failed", "cancelled")


async def finished(client: Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Long-poll get_job until the job ends; fails the test if it has not ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        job = ok(await call(client, "get_job", {"job_id": job_id, "wait": max(0.0, min(30.0, left))}))
        if job["status"] in TERMINAL:
            return job
        assert left > 0, f"job {job_id} still {job['status']} after {timeout} s"


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    marker: str  # its TMPDIR: in the `--user-data-dir` of each Chromium it launched
    log: Path  # its stderr

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        return stop_process(self.proc, sig, timeout)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Send `sig` to a process still running, SIGKILL it if it has not exited within `timeout`; its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


@contextmanager
def spawn_http(home: Path, *serve_args: str, transport: str = "http", **env: str) -> Iterator[HttpServer]:
    """`mcp-browsa serve --transport http SERVE_ARGS` on a free loopback port, waiting until it answers.

    `serve_args` follow `serve` (e.g. "--no-auth"). Whatever is left of the server afterwards is killed.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "mcp_browsa", "serve", "--transport", transport, "--port", str(port), *serve_args]
    tmp = _private_tmpdir()
    log = tmp / "server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd, env=server_env(home, TMPDIR=str(tmp), **env), stdout=subprocess.DEVNULL, stderr=err
        )
    server = HttpServer(proc, port, home, str(tmp), log)
    family: list[Proc] = []

    def listening() -> bool:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {proc.returncode}: {tail}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        # Two minutes: on a busy machine the server's imports alone can take most of one.
        wait_until_sync(listening, "the server listening", timeout=120, interval=0.1)
        yield server
    finally:
        if proc.poll() is None:
            family = descendants(proc.pid)
        server.stop()
        kill_all(family + processes_naming(server.marker))
        shutil.rmtree(tmp, ignore_errors=True)


@asynccontextmanager
async def _pipe_transport(process: Process) -> AsyncIterator[tuple[Any, Any]]:
    """MCP over a running process's stdin/stdout, leaving the process alone when the client closes.

    Unlike the SDK's stdio transport, closing this never closes stdin nor kills the process tree,
    so a test sees exactly what the server does on EOF or on a signal.
    """
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    to_client, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_client = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_stdout() -> None:
        buffer = b""
        async with to_client:
            try:
                async for chunk in stdout:
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                            await to_client.send(SessionMessage(message))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                pass

    async def write_stdin() -> None:
        async with from_client:
            try:
                async for message in from_client:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await stdin.send(data.encode())
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                await to_client.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_stdout)
        tg.start_soon(write_stdin)
        try:
            yield read_stream, write_stream
        finally:
            tg.cancel_scope.cancel()


@dataclass
class StdioServer:
    """A stdio server process the test owns: connect a client, close stdin, signal it, wait for it."""

    process: Process
    home: Path
    marker: str  # its TMPDIR: in the `--user-data-dir` of each Chromium it launched

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def client(self) -> Client:
        transport: Transport = _pipe_transport(self.process)  # type: ignore[assignment]
        return Client(transport, read_timeout_seconds=180)

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def send_signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if the process is still running after `timeout` seconds."""
        with anyio.move_on_after(timeout):
            await self.process.wait()
        return self.process.returncode


@asynccontextmanager
async def spawn_stdio(home: Path, *args: str, wrapper: Sequence[str] = (), **env: str) -> AsyncIterator[StdioServer]:
    """`mcp-browsa` over stdio in its own session; on exit anything left of it is killed (a test failure).

    `wrapper` is a command prefix the server runs under (e.g. one that gives it a network of its own).
    """
    tmp = _private_tmpdir()
    process = await anyio.open_process(
        [*wrapper, sys.executable, "-m", "mcp_browsa", *args],
        env=server_env(home, TMPDIR=str(tmp), **env),
        start_new_session=True,
        stderr=None,
    )
    server = StdioServer(process, home, str(tmp))
    try:
        yield server
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                await server.close_stdin()
                if await server.wait_exit(30) is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()
            leftovers: list[Proc] = processes_naming(server.marker)
            kill_all(leftovers)
            await process.aclose()
            shutil.rmtree(tmp, ignore_errors=True)
