"""The workspace signing secret over stdio MCP: read again at will, and the key of every endpoint created without a
secret of its own — checked by the `standardwebhooks` library on real deliveries, beside an endpoint's own secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.mcp_server import stdio_client
from tests.webhooks.receiver import Receiver, serve_receiver
from tests.webhooks.test_webhook_tools import env_for, tool

pytestmark = pytest.mark.anyio


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with serve_receiver() as shared, serve_receiver() as own:
        yield shared, own


async def test_workspace_secret_signs_endpoints_without_their_own(
    home: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    shared, own = receivers
    env = env_for(shared)
    env["BROWSA_ALLOW_PRIVATE_NETWORK"] += f",127.0.0.1:{own.port}"
    async with stdio_client(home, **env) as client:
        workspace = await tool(client, "webhook_signing_secret")
        assert workspace["secret"].startswith("whsec_") and workspace["endpoints"] == 0
        assert (await tool(client, "webhook_signing_secret"))["secret"] == workspace["secret"]  # read again

        signed_by_workspace = await tool(client, "create_webhook", url=shared.url, own_secret=False)
        assert signed_by_workspace.get("secret") is None and signed_by_workspace["signed_with"] == "workspace"
        with_own = await tool(client, "create_webhook", url=own.url)
        assert with_own["secret"].startswith("whsec_") and with_own["secret"] != workspace["secret"]
        listed = {h["id"]: h["signed_with"] for h in (await tool(client, "list_webhooks"))["webhooks"]}
        assert listed == {signed_by_workspace["id"]: "workspace", with_own["id"]: "endpoint"}
        again = await tool(client, "webhook_signing_secret")
        assert again["secret"] == workspace["secret"] and again["endpoints"] == 1

        shared.secret, own.secret = workspace["secret"], with_own["secret"]
        for hook in (signed_by_workspace, with_own):
            assert (await tool(client, "ping_webhook", webhook_id=hook["id"]))["delivered"]
        await anyio.to_thread.run_sync(lambda: shared.wait_for(lambda d: len(d) >= 1))
        await anyio.to_thread.run_sync(lambda: own.wait_for(lambda d: len(d) >= 1))
    [by_workspace], [by_own] = shared.deliveries, own.deliveries
    assert by_workspace.standard_ok and by_workspace.agents_ok  # standardwebhooks verifies the workspace secret
    assert by_own.standard_ok and by_own.agents_ok
    # Each endpoint's signature is its own: the other secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        Webhook(with_own["secret"]).verify(by_workspace.body, by_workspace.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(workspace["secret"]).verify(by_own.body, by_own.headers)
