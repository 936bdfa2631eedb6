"""Migrations on a real SQLite file: one number per migration, and data dirs caught in a numbering clash catch up.

Two branches once each shipped a 0004 (admin keys and the signing secret; batch row credits, now 0005). A data dir
that ran only one of them sits at version 4 without the other's columns; one that ran both is at 4 with all of them.
Either opens, and ends with every column and the latest version.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mcp_browsa.storage.db import LATEST_VERSION, Database
from mcp_browsa.storage.migrate import migration_files

pytestmark = pytest.mark.anyio

COLUMNS = {("api_keys", "admin"), ("workspaces", "webhook_secret"), ("batch_items", "credits_charged")}


def test_every_migration_has_its_own_number() -> None:
    for dialect in ("", "postgresql"):
        versions = [version for version, _name, _sql in migration_files(dialect)]
        assert len(versions) == len(set(versions)), versions


async def _fresh(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()


def _columns(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return {(t, str(r[1])) for t, _c in COLUMNS for r in conn.execute(f"PRAGMA table_info({t})")}


async def _reopened(path: Path) -> int:
    db = Database(path)
    await db.open()
    try:
        return await db.schema_version()
    finally:
        await db.close()


@pytest.mark.parametrize(
    "missing",
    [
        {("api_keys", "admin"), ("workspaces", "webhook_secret")},  # ran the batch-credits 0004 only
        {("batch_items", "credits_charged")},  # ran the keys 0004 only
        set(),  # ran both
    ],
)
async def test_a_data_dir_at_the_clashing_version_opens_with_every_column(tmp_path: Path, missing: set[Any]) -> None:
    path = tmp_path / "browsa.db"
    await _fresh(path)
    with sqlite3.connect(path) as conn:
        for table, column in missing:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("PRAGMA user_version=4")
    assert not COLUMNS & missing & _columns(path)  # the positive control: the columns really are gone
    assert await _reopened(path) == LATEST_VERSION
    assert _columns(path) >= COLUMNS
    assert await _reopened(path) == LATEST_VERSION  # and opening again changes nothing
