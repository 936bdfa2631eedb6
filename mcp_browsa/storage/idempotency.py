"""Idempotency keys: reservations with an owner lease, stored responses for 24 h, conflict detection.

A key row is inserted before any work starts (its primary key and a row lock decide), so of several concurrent calls
with one key exactly one becomes the owner; the others find the row and wait for its stored response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mcp_browsa.errors import BadRequest, IdempotencyConflict
from mcp_browsa.storage.db import Conn, Database, Row, now

__all__ = ["MAX_KEY_LENGTH", "TTL_SECONDS", "Claim", "IdempotencyRepo", "check_key", "params_hash"]

TTL_SECONDS = 24 * 3600.0
MAX_KEY_LENGTH = 255


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise BadRequest(f"idempotency_key must be 1-{MAX_KEY_LENGTH} printable characters")
    return key


def params_hash(tool: str, params: Mapping[str, Any]) -> str:
    """sha256 of the tool name and its parameters as canonical JSON (key order does not matter)."""
    canonical = json.dumps({"tool": tool, "params": params}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What `reserve` found.

    owner:     this call owns the key and must run the work (or, with `job_id`, answer from that job).
    stored:    the first call's response is stored in `response`; replay it.
    in_flight: another live call owns the key; wait for its response.
    """

    kind: Literal["owner", "stored", "in_flight"]
    response: str | None = None
    job_id: str | None = None  # set when this call took over from a dead owner that had already created its job


class IdempotencyRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve(
        self,
        workspace_id: str,
        key: str,
        tool: str,
        phash: str,
        *,
        owner: str,
        request_id: str | None,
        lease_seconds: float,
    ) -> Claim:
        t = now()
        async with self.db.transaction(durable=True) as conn:
            row = await self._locked(conn, workspace_id, key)
            if row is not None and float(row["expires_at"]) <= t:
                await conn.execute("DELETE FROM idempotency_keys WHERE workspace_id=? AND key=?", (workspace_id, key))
                row = None
            if row is None:
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO idempotency_keys(workspace_id, key, tool, params_hash, response, created_at,"
                    " expires_at, request_id, owner, lease_expires_at) VALUES (?,?,?,?,NULL,?,?,?,?,?)",
                    (workspace_id, key, tool, phash, t, t + TTL_SECONDS, request_id, owner, t + lease_seconds),
                )
                if cur.rowcount == 1:
                    return Claim("owner")
                # A call in another process reserved the key between our read and our insert (PostgreSQL; SQLite's
                # writers take turns): its row is the one that counts.
                row = await self._locked(conn, workspace_id, key)
                assert row is not None
            if row["tool"] != tool or row["params_hash"] != phash:
                raise IdempotencyConflict(
                    f"idempotency_key {key[:80]!r} was first used with {row['tool']} and other parameters;"
                    " use a new key for a different request",
                    idempotency_key=key[:255],
                )
            if row["response"] is not None:
                return Claim("stored", response=str(row["response"]))
            if row["lease_expires_at"] is not None and float(row["lease_expires_at"]) > t:
                return Claim("in_flight")
            # The owner died (or gave up) before storing a response. Its job, if it made one, is found by the
            # request id that was recorded with the reservation and stamped on the job in the same transaction.
            job_id = None
            if row["request_id"]:
                cur = await conn.execute(
                    "SELECT id FROM jobs WHERE workspace_id=? AND request_id=? ORDER BY created_at LIMIT 1",
                    (workspace_id, row["request_id"]),
                )
                found = await cur.fetchone()
                job_id = str(found["id"]) if found else None
            await conn.execute(
                "UPDATE idempotency_keys SET owner=?, lease_expires_at=?, request_id=? WHERE workspace_id=? AND key=?",
                (owner, t + lease_seconds, row["request_id"] if job_id else request_id, workspace_id, key),
            )
            return Claim("owner", job_id=job_id)

    @staticmethod
    async def _locked(conn: Conn, workspace_id: str, key: str) -> Row | None:
        """The key's row, locked until the transaction ends, so its owner changes hands once."""
        cur = await conn.execute(
            "SELECT tool, params_hash, response, expires_at, lease_expires_at, request_id FROM idempotency_keys"
            f" WHERE workspace_id=? AND key=?{conn.for_update}",
            (workspace_id, key),
        )
        return await cur.fetchone()

    async def heartbeat(self, workspace_id: str, key: str, owner: str, lease_seconds: float) -> bool:
        changed = await self.db.execute(
            "UPDATE idempotency_keys SET lease_expires_at=? WHERE workspace_id=? AND key=? AND owner=?"
            " AND response IS NULL",
            (now() + lease_seconds, workspace_id, key, owner),
        )
        return changed == 1

    async def complete(self, workspace_id: str, key: str, owner: str, response: str) -> bool:
        """Store the response; False when another call took the key over meanwhile (its answer wins)."""
        async with self.db.transaction(durable=True) as conn:
            cur = await conn.execute(
                "UPDATE idempotency_keys SET response=?, lease_expires_at=NULL"
                " WHERE workspace_id=? AND key=? AND owner=? AND response IS NULL",
                (response, workspace_id, key, owner),
            )
            return cur.rowcount == 1

    async def release(self, workspace_id: str, key: str, owner: str) -> None:
        """Forget a reservation whose call failed before doing anything, so a retry starts afresh."""
        await self.db.execute(
            "DELETE FROM idempotency_keys WHERE workspace_id=? AND key=? AND owner=? AND response IS NULL",
            (workspace_id, key, owner),
        )

    async def abandon(self, workspace_id: str, key: str, owner: str) -> None:
        """Give the key up at once but keep the row: the next call takes over and answers from the job."""
        await self.db.execute(
            "UPDATE idempotency_keys SET lease_expires_at=0 WHERE workspace_id=? AND key=? AND owner=?"
            " AND response IS NULL",
            (workspace_id, key, owner),
        )

    async def job_for_request(self, workspace_id: str, request_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT id FROM jobs WHERE workspace_id=? AND request_id=? ORDER BY created_at LIMIT 1",
            (workspace_id, request_id),
        )
        return str(row["id"]) if row else None

    async def state(self, workspace_id: str, key: str) -> tuple[bool, str | None, float | None]:
        """(row exists, stored response, lease expiry) as committed now, for waiters polling across processes."""
        row = await self.db.fetchone(
            "SELECT response, lease_expires_at FROM idempotency_keys WHERE workspace_id=? AND key=?",
            (workspace_id, key),
        )
        if row is None:
            return False, None, None
        lease = row["lease_expires_at"]
        return True, row["response"], (float(lease) if lease is not None else None)

    async def purge_expired(self) -> int:
        return await self.db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (now(),))
