"""Both delivery signatures, checked against an implementation we did not write (the `standardwebhooks` package)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from mcp_browsa.webhooks.events import EVENT_TYPES, build_envelope, check_event_types, new_event_id
from mcp_browsa.webhooks.signing import delivery_headers, new_secret, verify_agents_signature


def test_standard_webhooks_library_verifies_our_signature() -> None:
    secret = new_secret()
    event_id = new_event_id()
    body = build_envelope(event_id, "job.completed", "ws_default", {"job_id": "x", "text": "héllo"}, time.time())
    headers = delivery_headers(secret, event_id, "job.completed", int(time.time()), body.encode())

    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    assert headers["webhook-id"] == event_id == headers["X-Agents-Event-Id"]
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    assert headers["X-Agents-Signature"] == expected
    assert verify_agents_signature(secret, body.encode(), expected)


def test_tampering_and_wrong_secret_and_stale_timestamp_are_rejected() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1","type":"webhook.test"}'
    headers = delivery_headers(secret, "evt_1", "webhook.test", int(time.time()), body)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"test", b"tost"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    stale = delivery_headers(secret, "evt_1", "webhook.test", int(time.time()) - 3600, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)
    assert not verify_agents_signature(secret, body + b" ", headers["X-Agents-Signature"])


def test_envelope_shape_and_catalogue() -> None:
    envelope = json.loads(build_envelope("evt_abc", "agent.session.ended", "ws_x", {"agent_id": "agt_1"}, 0.0))
    assert envelope == {
        "id": "evt_abc",
        "type": "agent.session.ended",
        "created_at": "1970-01-01T00:00:00.000Z",
        "workspace_id": "ws_x",
        "data": {"agent_id": "agt_1"},
    }
    assert check_event_types(["job.failed", "job.failed", "webhook.test"]) == ["job.failed", "webhook.test"]
    with pytest.raises(ValueError, match=r"job\.exploded"):
        check_event_types(["job.exploded"])
    assert len(EVENT_TYPES) == 9
