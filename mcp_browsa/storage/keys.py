"""API keys in the database: minting (the key is shown once), sha256 lookup, listing by prefix, revocation, last use.

Only the sha256 of a key is stored; every key belongs to one workspace, created with its opening credits on mint.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from pydantic import BaseModel, Field

from mcp_browsa.errors import BadRequest, NotFound, Unauthorized
from mcp_browsa.storage.db import Database, Row, now
from mcp_browsa.storage.ledger import DEFAULT_WORKSPACE, LedgerRepo

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "ApiKeyRepo",
    "KeyOwner",
    "MintedKey",
    "check_workspace_id",
    "hash_key",
    "is_well_formed",
]

KEY_PREFIX = "agt_live_"
_KEY_RE = re.compile(r"agt_live_[0-9a-f]{24}")
_WORKSPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Writing last_used_at on every request would put a write lock on every read; a minute is precise enough.
TOUCH_INTERVAL = 60.0
SHOWN_PREFIX_LEN = len(KEY_PREFIX) + 6


class ApiKey(BaseModel):
    id: str = Field(description="Key id (`key_…`), used to revoke it.")
    workspace_id: str = Field(description="The workspace every request made with this key acts in.")
    name: str = Field(description="Label given at mint time.")
    prefix: str = Field(description="First characters of the key, enough to recognise it.")
    created_at: float = Field(description="Unix time the key was minted.")
    last_used_at: float | None = Field(None, description="Unix time of the last request (to the minute).")
    revoked_at: float | None = Field(None, description="Unix time it was revoked; revoked keys get 401.")
    admin: bool = Field(False, description="Minted with --admin: may list, create and revoke keys (the key tools).")


class MintedKey(ApiKey):
    key: str = Field(description="The key itself. Shown only now; only its sha256 is stored.")


@dataclass(frozen=True)
class KeyOwner:
    """Who an accepted key speaks for."""

    key_id: str
    workspace_id: str
    admin: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_well_formed(key: str) -> bool:
    return _KEY_RE.fullmatch(key) is not None


def check_workspace_id(workspace_id: str) -> str:
    if _WORKSPACE_RE.fullmatch(workspace_id) is None:
        raise BadRequest(
            f"workspace {workspace_id[:80]!r} is not a valid workspace id: use 1-64 letters, digits, '_', '-' or '.'"
        )
    return workspace_id


def _key_from_row(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        workspace_id=row["workspace_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        admin=bool(row["admin"]),
    )


class ApiKeyRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def mint(
        self, workspace_id: str = DEFAULT_WORKSPACE, *, name: str = "", initial_credits: int = 0, admin: bool = False
    ) -> MintedKey:
        """A new key for `workspace_id`, creating the workspace (with `initial_credits`) if it is new."""
        check_workspace_id(workspace_id)
        await LedgerRepo(self.db).ensure_workspace(workspace_id, initial_credits=initial_credits)
        key = KEY_PREFIX + secrets.token_hex(12)
        key_id = "key_" + secrets.token_hex(8)
        created = now()
        async with self.db.transaction(durable=True) as conn:
            await conn.execute(
                "INSERT INTO api_keys(id, workspace_id, name, prefix, key_hash, created_at, admin)"
                " VALUES (?,?,?,?,?,?,?)",
                (key_id, workspace_id, name, key[:SHOWN_PREFIX_LEN], hash_key(key), created, int(admin)),
            )
        return MintedKey(
            id=key_id,
            workspace_id=workspace_id,
            name=name,
            prefix=key[:SHOWN_PREFIX_LEN],
            created_at=created,
            admin=admin,
            key=key,
        )

    async def list_keys(self, workspace_id: str | None = None, *, include_revoked: bool = True) -> list[ApiKey]:
        sql = "SELECT * FROM api_keys WHERE 1=1"
        args: list[str] = []
        if workspace_id is not None:
            sql += " AND workspace_id=?"
            args.append(workspace_id)
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        rows = await self.db.fetchall(sql + " ORDER BY created_at, id", args)
        return [_key_from_row(r) for r in rows]

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once (the next request with it gets 401). Revoking twice keeps the first time."""
        async with self.db.transaction(durable=True) as conn:
            await conn.execute("UPDATE api_keys SET revoked_at=COALESCE(revoked_at, ?) WHERE id=?", (now(), key_id))
        row = await self.db.fetchone("SELECT * FROM api_keys WHERE id=?", (key_id,))
        if row is None:
            raise NotFound(f"no API key {key_id[:80]!r}; `mcp-browsa keys list` shows the key ids")
        return _key_from_row(row)

    async def active_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
        return int(row[0]) if row else 0

    async def authenticate(self, key: str | None) -> KeyOwner:
        """The owner of a presented key, or Unauthorized saying what is wrong and how to fix it."""
        if not key:
            hint = (
                ""
                if await self.active_count()
                else "; no key has been minted on this server yet: the operator runs `mcp-browsa keys mint`"
            )
            raise Unauthorized(
                f"an API key is required: send `X-API-Key: {KEY_PREFIX}…` or `Authorization: Bearer {KEY_PREFIX}…`"
                + hint
            )
        if not is_well_formed(key):
            raise Unauthorized(f"the API key is malformed; keys are {KEY_PREFIX} followed by 24 hex digits")
        row = await self.db.fetchone(
            "SELECT id, workspace_id, revoked_at, last_used_at, admin FROM api_keys WHERE key_hash=?", (hash_key(key),)
        )
        if row is None:
            raise Unauthorized("the API key is not valid on this server")
        if row["revoked_at"] is not None:
            raise Unauthorized("the API key was revoked; ask the operator for a new one (`mcp-browsa keys mint`)")
        t = now()
        if row["last_used_at"] is None or t - float(row["last_used_at"]) > TOUCH_INTERVAL:
            await self.db.execute("UPDATE api_keys SET last_used_at=? WHERE id=?", (t, row["id"]))
        return KeyOwner(key_id=row["id"], workspace_id=row["workspace_id"], admin=bool(row["admin"]))
