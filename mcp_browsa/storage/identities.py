"""The agents, agent_sessions and identity_state tables: identity rows, their sessions, and sealed browser state.

Writers that must commit with a charge or a webhook event take the caller's connection; reads use the reader.
"""

from __future__ import annotations

import secrets
from typing import Any

from mcp_browsa.storage.db import Conn, Database, Row, dumps, loads, now, update_by_id
from mcp_browsa.storage.paging import Page, fetch_page

__all__ = ["AgentRepo", "json_list", "new_agent_id", "new_session_id"]

_AGENT_COLUMNS = frozenset(
    {
        "status",
        "cdp_url",
        "cdp_http",
        "expires_at",
        "trust_score",
        "fingerprint",
        "owner",
        "pid",
        "profile_dir",
        "started_at",
        "billed_minutes",
        "error_message",
        "destroyed_at",
        "trust_report",
        "trust_measured_at",
    }
)


def new_agent_id() -> str:
    return "agt_" + secrets.token_hex(10)


def new_session_id() -> str:
    return "ses_" + secrets.token_hex(10)


class AgentRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- agents ---------------------------------------------------------------------------------

    @staticmethod
    async def insert(conn: Conn, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        await conn.execute(f"INSERT INTO agents({cols}) VALUES ({marks})", tuple(row.values()))

    @staticmethod
    async def update(conn: Conn, agent_id: str, **fields: Any) -> None:
        await update_by_id(conn, "agents", agent_id, fields, _AGENT_COLUMNS)

    @staticmethod
    async def forget_browser(conn: Conn, agent_id: str, owner: str) -> None:
        """The identity's browser is gone: clear where it ran, unless another process owns the identity now."""
        await conn.execute(
            "UPDATE agents SET cdp_url=NULL, cdp_http=NULL, pid=NULL, profile_dir=NULL WHERE id=? AND owner=?",
            (agent_id, owner),
        )

    async def record_trust(self, agent_id: str, score: int, report: dict[str, Any]) -> None:
        """A fresh trust measurement: the score, the report it came from, and when."""
        await self.db.execute(
            "UPDATE agents SET trust_score=?, trust_report=?, trust_measured_at=? WHERE id=?",
            (score, dumps(report), now(), agent_id),
        )

    @staticmethod
    async def status_in(conn: Conn, agent_id: str) -> str | None:
        """The status as this write transaction sees it (another process may have ended the agent)."""
        cur = await conn.execute("SELECT status FROM agents WHERE id=?", (agent_id,))
        row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def get(self, agent_id: str, workspace_id: str | None = None) -> Row | None:
        if workspace_id is None:
            return await self.db.fetchone("SELECT * FROM agents WHERE id=?", (agent_id,))
        return await self.db.fetchone("SELECT * FROM agents WHERE id=? AND workspace_id=?", (agent_id, workspace_id))

    async def list_for(
        self, workspace_id: str, *, mode: str | None, status: str | None, limit: int, cursor: str | None = None
    ) -> Page:
        return await fetch_page(
            self.db,
            name="identities",
            select="* FROM agents",
            filters={"workspace_id": workspace_id, "mode": mode, "status": status},
            key=(("created_at", float), ("id", str)),
            limit=limit,
            cursor=cursor,
        )

    async def live_rows(self) -> list[Row]:
        """Agents a dead server may have left: any being provisioned, running burners, identities with a live process."""
        return await self.db.fetchall(
            "SELECT * FROM agents WHERE status='queued' OR (status='running' AND (mode='burner' OR pid IS NOT NULL))"
        )

    async def costs(self, agent_ids: list[str]) -> dict[str, int]:
        if not agent_ids:
            return {}
        marks = ",".join("?" * len(agent_ids))
        rows = await self.db.fetchall(
            f"SELECT agent_id, COALESCE(-SUM(amount), 0) AS cost FROM ledger"
            f" WHERE agent_id IN ({marks}) AND kind IN ('charge','refund') GROUP BY agent_id",
            agent_ids,
        )
        return {str(r["agent_id"]): int(r["cost"]) for r in rows}

    # -- sealed browser state -------------------------------------------------------------------

    @staticmethod
    async def put_state(conn: Conn, agent_id: str, nonce: bytes, ciphertext: bytes) -> None:
        await conn.execute(
            "INSERT INTO identity_state(agent_id, nonce, ciphertext, updated_at) VALUES (?,?,?,?)"
            " ON CONFLICT(agent_id) DO UPDATE SET nonce=excluded.nonce, ciphertext=excluded.ciphertext,"
            " updated_at=excluded.updated_at",
            (agent_id, nonce, ciphertext, now()),
        )

    @staticmethod
    async def delete_state(conn: Conn, agent_id: str) -> None:
        await conn.execute("DELETE FROM identity_state WHERE agent_id=?", (agent_id,))

    async def get_state(self, agent_id: str) -> tuple[bytes, bytes] | None:
        row = await self.db.fetchone("SELECT nonce, ciphertext FROM identity_state WHERE agent_id=?", (agent_id,))
        return None if row is None else (bytes(row["nonce"]), bytes(row["ciphertext"]))

    # -- sessions -------------------------------------------------------------------------------

    @staticmethod
    async def open_sessions(conn: Conn, agent_id: str) -> list[Row]:
        cur = await conn.execute(
            "SELECT * FROM agent_sessions WHERE agent_id=? AND ended_at IS NULL ORDER BY started_at", (agent_id,)
        )
        return list(await cur.fetchall())

    @staticmethod
    async def start_session(
        conn: Conn,
        agent_id: str,
        *,
        kind: str,
        owner: str,
        expires_at: float | None = None,
        job_id: str | None = None,
    ) -> str:
        session_id = new_session_id()
        await conn.execute(
            "INSERT INTO agent_sessions(id, agent_id, job_id, started_at, kind, owner, expires_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (session_id, agent_id, job_id, now(), kind, owner, expires_at),
        )
        return session_id

    @staticmethod
    async def end_session(conn: Conn, session_id: str, reason: str) -> bool:
        cur = await conn.execute(
            "UPDATE agent_sessions SET ended_at=?, end_reason=? WHERE id=? AND ended_at IS NULL",
            (now(), reason, session_id),
        )
        return bool(cur.rowcount)

    async def job_session_end(self, job_id: str) -> str | None:
        """Why the identity session a job ran in ended (it says when the state could not be saved); None if open."""
        row = await self.db.fetchone(
            "SELECT end_reason FROM agent_sessions WHERE job_id=? ORDER BY started_at DESC LIMIT 1", (job_id,)
        )
        return str(row["end_reason"]) if row is not None and row["end_reason"] is not None else None

    async def open_session_of(self, agent_id: str) -> Row | None:
        return await self.db.fetchone(
            "SELECT * FROM agent_sessions WHERE agent_id=? AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
            (agent_id,),
        )

    async def session_count(self, agent_id: str) -> int:
        """Sessions the identity has been used in (open_session and tasks), not counting its creation."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM agent_sessions WHERE agent_id=? AND kind != 'create'", (agent_id,)
        )
        return int(row[0]) if row is not None else 0

    async def stale_sessions(self) -> list[Row]:
        """Open sessions of every agent (the reaper keeps those whose owner is alive)."""
        return await self.db.fetchall(
            "SELECT s.*, a.workspace_id FROM agent_sessions s JOIN agents a ON a.id = s.agent_id"
            " WHERE s.ended_at IS NULL"
        )


def json_list(raw: str | None) -> list[str] | None:
    value = loads(raw)
    return [str(v) for v in value] if isinstance(value, list) else None
