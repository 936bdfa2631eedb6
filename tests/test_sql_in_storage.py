"""Only `storage/` speaks SQL: a statement anywhere else in the package is a query the next database cannot take over.

Every string literal in `mcp_browsa/` (f-string pieces too) is read; one that starts like a SQL statement outside
`storage/` fails the test, naming the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mcp_browsa"

_STATEMENT = re.compile(
    r"^\s*(SELECT\b.+\bFROM\b|SELECT\s+(1|COUNT|COALESCE|MAX|MIN)\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b"
    r"|DELETE\s+FROM\b|REPLACE\s+INTO\b|CREATE\s+(TABLE|INDEX|UNIQUE|TRIGGER|VIEW)\b|ALTER\s+TABLE\b|DROP\s+\w+\b"
    r"|PRAGMA\s+\w+|BEGIN(\s+IMMEDIATE)?\s*$|WITH\s+\w+\s+AS\s*\()",
    re.DOTALL,
)


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    pieces = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in pieces:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, str(text)))
    return found


def sql_outside_storage() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("storage/"):
            continue
        lines = [n for n, text in _literals(ast.parse(path.read_text(encoding="utf-8"))) if _STATEMENT.match(text)]
        if lines:
            found[rel] = sorted(set(lines))
    return found


def test_no_sql_outside_storage() -> None:
    assert sql_outside_storage() == {}


def test_the_check_recognises_statements() -> None:
    """Positive control: each statement form the package writes is seen, in plain and f-string literals."""
    code = """
a = "SELECT id, path FROM screenshots WHERE created_at < ?"
b = f"UPDATE jobs SET {cols} WHERE id=?"
c = "INSERT OR REPLACE INTO screenshots(job_id) VALUES (?)"
d = "DELETE FROM jobs WHERE id=?"
e = "SELECT 1 FROM workspaces WHERE id=?"
f = "Select the first row"  # prose, not SQL
g = "UPDATE the docs"
"""
    hits = [text for _, text in _literals(ast.parse(code)) if _STATEMENT.match(text)]
    assert len(hits) == 5
