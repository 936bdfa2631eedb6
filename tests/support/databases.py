"""Fixtures that run a test on both databases: SQLite in the test's data dir, and PostgreSQL in a throw-away cluster.

`database` is a location for `Database(...)` (a path or a URL); `database_env` is the environment a spawned server
or `load_settings` needs to use it. The cluster starts once per session, on the first PostgreSQL test, and each
PostgreSQL test gets a database of its own. Without PostgreSQL installed its tests fail, they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import Cluster, running_cluster

__all__ = ["database", "database_env", "database_kind", "env_for", "in_home", "pg_cluster"]

KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=KINDS)
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(database_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Where this test's database is: `tmp_path`/browsa.db, or a fresh PostgreSQL database's URL."""
    if database_kind == "sqlite":
        return tmp_path / "browsa.db"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_database()


def in_home(location: str | Path, home: Path) -> str | Path:
    """The database a server with data dir `home` uses: the URL, or else `home`/browsa.db."""
    return location if isinstance(location, str) else home / "browsa.db"


def env_for(location: str | Path) -> dict[str, str]:
    """BROWSA_* variables that point a server at `location` (none for SQLite: it lives in the data dir)."""
    return {"BROWSA_DATABASE_URL": location} if isinstance(location, str) else {}


@pytest.fixture
def database_env(database: str | Path) -> dict[str, str]:
    return env_for(database)
