"""SQLite-dialect SQL rewritten for PostgreSQL: the handful of constructs the repositories use that differ.

- `?` placeholders become `%s` (and a literal `%` becomes `%%`, which psycopg reads as one `%`);
- `INSERT OR IGNORE INTO …` becomes `INSERT INTO … ON CONFLICT DO NOTHING`;
- `json_extract(col, '$.key')` becomes `(col::jsonb ->> 'key')` (JSON columns hold text on both databases);
- `json_set(col, '$.key', json('v'))` becomes `jsonb_set(col::jsonb, '{key}', 'v'::jsonb)::text`.

Everything else the repositories write is SQL both databases read alike. A statement SQLite alone understands
(a PRAGMA) is refused here, loudly, rather than sent.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["to_postgres"]

_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\sRETURNING\s", re.IGNORECASE)
_JSON_EXTRACT = re.compile(r"json_extract\(\s*([\w.]+)\s*,\s*'\$\.(\w+)'\s*\)", re.IGNORECASE)
_JSON_SET = re.compile(r"json_set\(\s*([\w.]+)\s*,\s*'\$\.(\w+)'\s*,\s*json\('([^']*)'\)\s*\)", re.IGNORECASE)
_SQLITE_ONLY = re.compile(r"^\s*PRAGMA\b|\bINSERT\s+OR\s+REPLACE\b|\bjson_\w+\(|\bjson\(", re.IGNORECASE)


def _placeholders(sql: str) -> str:
    """`?` → `%s` outside quoted strings; `%` → `%%` everywhere (psycopg reads `%` in literals too)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    """`sql`, written for SQLite, as PostgreSQL reads it."""
    if _OR_IGNORE.match(sql):
        sql = _OR_IGNORE.sub("INSERT INTO", sql, count=1)
        returning = _RETURNING.search(sql)
        if returning:
            sql = f"{sql[: returning.start()]} ON CONFLICT DO NOTHING{sql[returning.start() :]}"
        else:
            sql = f"{sql.rstrip().rstrip(';')} ON CONFLICT DO NOTHING"
    sql = _JSON_EXTRACT.sub(r"(\1::jsonb ->> '\2')", sql)
    sql = _JSON_SET.sub(r"jsonb_set(\1::jsonb, '{\2}', '\3'::jsonb)::text", sql)
    if _SQLITE_ONLY.search(sql):
        raise ValueError(f"SQLite-only SQL reached PostgreSQL: {sql[:200]}")
    return _placeholders(sql)
