"""`mcp-browsa doctor` names the database it uses: where it is, its server and version, and its schema version."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_browsa.storage.db import LATEST_VERSION
from tests.support.mcp_server import run_cli


def test_doctor_reports_the_database_its_server_and_its_migration_version(
    home: Path, database: str | Path, database_env: dict[str, str]
) -> None:
    done = run_cli(home, "doctor", "--json", **database_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    if isinstance(database, str):
        assert report["db"].startswith("postgresql://postgres@127.0.0.1:") and report["db"] == database
        assert report["db_server"].startswith("PostgreSQL ")
    else:
        assert report["db"] == str(home / "browsa.db")
        assert report["db_server"].startswith("SQLite 3.")
    assert report["schema_version"] == LATEST_VERSION
    assert report["integrity"] == "ok"


def test_the_database_url_flag_is_read_after_serve_too_and_a_bad_one_is_a_clear_error(home: Path) -> None:
    done = run_cli(home, "serve", "--database-url", "mysql://nope/db")
    assert done.returncode == 2
    assert "BROWSA_DATABASE_URL must be a postgresql://" in done.stderr


def test_an_unreachable_database_is_reported_not_a_crash(home: Path) -> None:
    done = run_cli(home, "--database-url", "postgresql://nobody@127.0.0.1:9/none", "doctor", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["db"].startswith("ERROR") and "cannot be reached" in report["db"]
