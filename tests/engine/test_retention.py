"""Screenshot retention: old files and rows go, recent ones stay, nothing outside the screenshots dir is touched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mcp_browsa.engine.retention import purge_screenshots
from mcp_browsa.storage.db import Database


@pytest.mark.anyio
async def test_old_screenshots_are_deleted_and_recent_ones_kept(tmp_path: Path, database: str | Path) -> None:
    db = Database(database)
    await db.open()
    shots = tmp_path / "screenshots"
    old_file, new_file = shots / "job-a" / "0000.png", shots / "job-b" / "0000.png"
    outside = tmp_path / "precious.txt"
    for f in (old_file, new_file, outside):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    ten_days_ago = time.time() - 10 * 86400
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO workspaces(id,name,balance,created_at) VALUES ('w','w',0,0)")
        for job in ("job-a", "job-b", "job-c"):
            await conn.execute(
                "INSERT INTO jobs(id,workspace_id,kind,status,params,created_at) VALUES (?,'w','scrape','completed','{}',0)",
                (job,),
            )
        await conn.execute(
            "INSERT INTO screenshots(job_id,n,path,created_at) VALUES ('job-a',0,?,?)", (str(old_file), ten_days_ago)
        )
        await conn.execute(
            "INSERT INTO screenshots(job_id,n,path,created_at) VALUES ('job-b',0,?,?)", (str(new_file), time.time())
        )
        # A row pointing outside the screenshots dir must never delete that file.
        await conn.execute(
            "INSERT INTO screenshots(job_id,n,path,created_at) VALUES ('job-c',0,?,?)", (str(outside), ten_days_ago)
        )
    removed = await purge_screenshots(db, shots, days=5)
    rows = await db.fetchall("SELECT job_id FROM screenshots ORDER BY job_id")
    await db.close()
    assert removed == 1
    assert not old_file.exists() and not old_file.parent.exists()
    assert new_file.exists() and outside.exists()
    assert [r["job_id"] for r in rows] == ["job-b"]
