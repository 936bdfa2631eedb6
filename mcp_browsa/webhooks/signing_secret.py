"""The workspace's webhook signing secret: made on first use, readable again, and the key of every endpoint
created without a secret of its own.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from mcp_browsa.models.webhooks import SIGNING_HELP
from mcp_browsa.storage.db import Database
from mcp_browsa.storage.webhook_secrets import WebhookSecretRepo
from mcp_browsa.webhooks.signing import new_secret

__all__ = ["SigningSecret", "WorkspaceSecrets"]


class SigningSecret(BaseModel):
    secret: str = Field(
        description="The workspace signing secret (`whsec_…`). Endpoints created with own_secret=false are "
        "signed with it; it can be read again at any time."
    )
    endpoints: int = Field(description="Webhooks of this workspace signed with it.")
    signing: str = Field(SIGNING_HELP, description="How deliveries are signed and how to verify them.")


class WorkspaceSecrets:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_or_create(self, workspace_id: str) -> str:
        """The secret, made once: concurrent first calls keep whichever was written first."""
        secret = await WebhookSecretRepo(self.db).keep_first(workspace_id, new_secret())
        if secret is None:
            raise LookupError(f"workspace {workspace_id} does not exist")
        return secret

    async def describe(self, workspace_id: str) -> SigningSecret:
        secret = await self.get_or_create(workspace_id)
        return SigningSecret(secret=secret, endpoints=await WebhookSecretRepo(self.db).endpoints_using(workspace_id))
