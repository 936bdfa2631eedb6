"""Migration files: `storage/migrations/NNNN_name.sql` for SQLite, `storage/migrations/postgresql/NNNN_name.sql`
for PostgreSQL, applied in order by each backend at start-up.

Both databases share the version numbers. PostgreSQL support arrived at version 5, so its first file is
`0005_initial.sql`, the whole schema at that version; every later migration is written once per folder.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["LATEST_VERSION", "migration_files", "split_sql"]


def migration_files(dialect: str = "") -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration for `dialect` ("" for SQLite, "postgresql"), in order."""
    folder = resources.files("mcp_browsa.storage") / "migrations"
    if dialect:
        folder = folder / dialect
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_sql(script: str) -> list[str]:
    """Statements of a migration file; comments dropped (no triggers with inner semicolons here)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


LATEST_VERSION = max(v for v, _, _ in migration_files())
if max(v for v, _, _ in migration_files("postgresql")) != LATEST_VERSION:  # pragma: no cover - a packaging mistake
    raise RuntimeError("the SQLite and PostgreSQL migrations disagree on the latest version")
