"""Webhook secrets and the two signatures every delivery carries: Browsa's and Standard Webhooks'.

`X-Agents-Signature` is hex HMAC-SHA256 of the raw body keyed with the secret string; the Standard Webhooks
signature is base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed with the secret's base64 payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = [
    "SECRET_PREFIX",
    "agents_signature",
    "delivery_headers",
    "new_secret",
    "standard_signature",
    "verify_agents_signature",
]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes: the format Standard Webhooks libraries accept as is."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _standard_key(secret: str) -> bytes:
    payload = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(payload)


def agents_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_agents_signature(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(agents_signature(secret, body), signature.strip().lower())


def standard_signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_headers(secret: str, event_id: str, event_type: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers for one attempt. The timestamp is the attempt's own, so a retry hours later still verifies."""
    return {
        "Content-Type": "application/json",
        "X-Agents-Signature": agents_signature(secret, body),
        "X-Agents-Event": event_type,
        "X-Agents-Event-Id": event_id,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, event_id, timestamp, body),
    }
