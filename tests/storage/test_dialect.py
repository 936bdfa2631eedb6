"""The SQLite-dialect SQL the repositories write, as PostgreSQL receives it."""

from __future__ import annotations

import pytest

from mcp_browsa.storage.dialect import to_postgres


def test_placeholders_become_psycopg_ones_but_not_inside_quoted_text() -> None:
    sql = "SELECT * FROM t WHERE a=? AND b='?' AND c LIKE ? ESCAPE '\\'"
    assert to_postgres(sql) == "SELECT * FROM t WHERE a=%s AND b='?' AND c LIKE %s ESCAPE '\\'"


def test_a_literal_percent_reaches_postgresql_as_one_percent() -> None:
    assert to_postgres("SELECT '100%' WHERE x=?") == "SELECT '100%%' WHERE x=%s"


def test_insert_or_ignore_becomes_on_conflict_do_nothing_before_returning() -> None:
    assert (
        to_postgres("INSERT OR IGNORE INTO w(id) VALUES (?)") == "INSERT INTO w(id) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert (
        to_postgres("INSERT OR IGNORE INTO w(id) VALUES (?) RETURNING id")
        == "INSERT INTO w(id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"
    )


def test_json_paths_become_jsonb_operators() -> None:
    assert to_postgres("SELECT 1 WHERE json_extract(params, '$.kind')='task'") == (
        "SELECT 1 WHERE (params::jsonb ->> 'kind')='task'"
    )
    assert to_postgres("UPDATE jobs SET params=json_set(params, '$.sync', json('false'))") == (
        "UPDATE jobs SET params=jsonb_set(params::jsonb, '{sync}', 'false'::jsonb)::text"
    )


@pytest.mark.parametrize(
    "sql", ["PRAGMA user_version", "INSERT OR REPLACE INTO t(a) VALUES (?)", "SELECT json_array_length(x) FROM t"]
)
def test_sqlite_only_sql_is_refused_rather_than_sent(sql: str) -> None:
    with pytest.raises(ValueError, match="SQLite-only"):
        to_postgres(sql)
