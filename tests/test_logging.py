"""A debug log shows what the server does, not what callers sent: tool arguments, page text and secrets stay out
unless the operator asks for the wire (BROWSA_LOG_WIRE=1). A bad log level is a one-line configuration error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.http_keys import base_url, http_client, sse
from tests.support.mcp_server import envelope, ok, run_cli, spawn_http

PROMPT = "zebra-7731 what does the page charge"


async def _debug_log(home: Path, **env: str) -> tuple[str, list[str]]:
    """The log of a DEBUG server after a webhook is made and a call is refused over streamable HTTP and over SSE;
    and the webhooks' secrets."""
    with spawn_http(
        home,
        "--no-auth",
        BROWSA_LOG_LEVEL="DEBUG",
        BROWSA_WARM_SPARES="0",
        BROWSA_ALLOW_PRIVATE_NETWORK="1",
        **env,
    ) as server:
        secrets = []
        for connect in (http_client, sse):
            async with connect(base_url(server), None) as client:
                made = await client.call_tool("create_webhook", {"url": "http://127.0.0.1:9/hook"})
                secrets.append(ok(made)["secret"])
                refused = await client.call_tool("extract", {"url": "file:///etc/passwd", "prompt": PROMPT})
                assert envelope(refused)["code"] == "BAD_REQUEST"
        server.stop()
        return server.log.read_text(errors="replace"), secrets


@pytest.mark.anyio
async def test_a_debug_log_leaves_out_arguments_and_secrets(tmp_path: Path) -> None:
    log, secrets = await _debug_log(tmp_path / "quiet")
    assert " DEBUG " in log  # debugging really is on
    assert PROMPT not in log and not [s for s in secrets if s in log], log[-3000:]

    # The same calls with the wire asked for: the log would have shown both.
    wire_log, wire_secrets = await _debug_log(tmp_path / "wire", BROWSA_LOG_WIRE="1")
    assert PROMPT in wire_log and all(s in wire_log for s in wire_secrets)


def test_an_unknown_log_level_is_a_configuration_error(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "credits", BROWSA_LOG_LEVEL="chatty")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "BROWSA_LOG_LEVEL" in done.stderr, done.stderr
